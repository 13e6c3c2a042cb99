import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { runStrata, STRATA_BIN } from "../helpers/cli.js";
import { buildExample, exampleCopy, SHARED_CACHE } from "../helpers/examples.js";
import { podman as podmanIn } from "../helpers/podman.js";

const exec = promisify(execFile);

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Every content-addressed entry (not temp files) hashes to its name; returns how many there are. */
async function assertStoreIntact(dir: string): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const entries = names.filter((n) => /^[0-9a-f]{64}$/.test(n));
  for (const name of entries)
    assert.equal(sha256(await readFile(join(dir, name))), name, `${dir}/${name} is torn`);
  return entries.length;
}

async function flipByte(path: string): Promise<void> {
  const bytes = await readFile(path);
  bytes[Math.floor(bytes.length / 2)] ^= 0xff;
  await writeFile(path, bytes);
}

describe("builds recover from a damaged cache (network: host's mirror)", () => {
  it("drops a corrupt .deb and fetches it again", async () => {
    const cache = await mkdtemp(join(tmpdir(), "strata-cache-"));
    const dir = await exampleCopy("busybox");
    const first = await buildExample(dir, [], cache);
    const lock = JSON.parse(await readFile(join(dir, "strata.lock"), "utf8"));
    const deb = join(cache, "debs", "sha256", lock.packages[0].sha256);
    await flipByte(deb);
    await rm(join(cache, "layers"), { recursive: true });
    const second = await buildExample(dir, [], cache);
    assert.equal(second.summary.digest, first.summary.digest);
    assert.equal(sha256(await readFile(deb)), lock.packages[0].sha256);
    await rm(cache, { recursive: true, force: true });
  });

  it("rebuilds a layer whose cached blob is corrupt", async () => {
    const cache = await mkdtemp(join(tmpdir(), "strata-cache-"));
    const dir = await exampleCopy("busybox");
    const first = await buildExample(dir, [], cache);
    const layer = first.summary.images[0].layers.find((l: { kind: string }) => l.kind === "package");
    const blob = join(cache, "blobs", "sha256", layer.digest.slice(7));
    await flipByte(blob);
    const second = await buildExample(dir, [], cache);
    assert.equal(second.summary.digest, first.summary.digest);
    assert.equal(`sha256:${sha256(await readFile(blob))}`, layer.digest);
    await rm(cache, { recursive: true, force: true });
  });

  it("says the disk is full and keeps nothing half-written (root: mounts a 600 KiB tmpfs as the cache)", async () => {
    const dir = await exampleCopy("busybox");
    assert.equal((await runStrata(["--cache-dir", SHARED_CACHE, "lock"], { cwd: dir })).code, 0);
    const tiny = await mkdtemp(join(tmpdir(), "strata-full-"));
    await exec("mount", ["-t", "tmpfs", "-o", "size=600k", "tmpfs", tiny]);
    try {
      const r = await runStrata(["--cache-dir", join(tiny, "cache"), "build", "-o", join(dir, "out")], {
        cwd: dir,
      });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /^strata: error: no space left on device/m);
      assert.match(r.stderr, /hint: free some disk space, or point --cache-dir/);
      // What stays is whole: each file a verified .deb named by its sha256, no temp file.
      const { stdout } = await exec("find", [tiny, "-type", "f"]);
      for (const file of stdout.split("\n").filter(Boolean)) {
        assert.match(file, /\/debs\/sha256\/[0-9a-f]{64}$/, "no partial file is left in the cache");
        assert.equal(sha256(await readFile(file)), file.slice(-64), `${file} is whole`);
      }
    } finally {
      await exec("umount", [tiny]);
      await rm(tiny, { recursive: true, force: true });
    }
  });

  it("leaves no torn cache entry when killed in the middle, and the next build completes", async () => {
    const cache = await mkdtemp(join(tmpdir(), "strata-cache-"));
    const dir = await exampleCopy("python3", (s) => s.replace(/^archs: .*$/m, "archs: [amd64]"));
    const reference = await buildExample(dir, [], join(tmpdir(), "strata-test-cache"));
    // Killed first while a .deb is being written to the cache, then (the next run) while a layer
    // blob is: each kill is checked to have landed mid-write, by the temp file it leaves.
    for (const store of ["debs", "blobs"]) {
      const args = ["--cache-dir", cache, "build", "-o", join(dir, "killed"), "--force"];
      const leftover = await killWhileCaching(dir, args, join(cache, store, "sha256"));
      assert.ok(leftover.length > 0, `the build was killed while writing to ${store}`);
      await assertStoreIntact(join(cache, "debs", "sha256"));
      await assertStoreIntact(join(cache, "blobs", "sha256"));
      for (const record of await readdir(join(cache, "layers")).catch(() => [] as string[])) {
        if (!record.endsWith(".json")) continue;
        JSON.parse(await readFile(join(cache, "layers", record), "utf8"));
      }
    }
    const after = await buildExample(dir, [], cache);
    assert.equal(after.summary.digest, reference.summary.digest);
    assert.ok((await assertStoreIntact(join(cache, "blobs", "sha256"))) > 30);
    await rm(cache, { recursive: true, force: true });
  });
});

/**
 * Runs strata with `args` and kills it (SIGKILL) as soon as it has a temp file of its own in
 * `store` (within 3 minutes); returns the temp files of that process still there after the kill.
 */
async function killWhileCaching(cwd: string, args: string[], store: string): Promise<string[]> {
  const child = spawn(process.execPath, [STRATA_BIN, ...args], { cwd, stdio: "ignore" });
  const closed = new Promise((resolve) => child.on("close", resolve));
  const ours = async () =>
    (await readdir(store).catch(() => [] as string[])).filter((n) => n.includes(`.tmp-${child.pid}-`));
  const deadline = Date.now() + 180_000;
  while ((await ours()).length === 0 && child.exitCode === null && Date.now() < deadline) await sleep(2);
  const running = child.exitCode === null;
  child.kill("SIGKILL");
  await closed;
  assert.ok(running, `the build ended before it wrote to ${store}`);
  return ours();
}

/** Starts a build into `out` and kills it (SIGKILL) as soon as the output starts to appear on disk. */
async function killWhileWriting(dir: string, out: string, args: string[]): Promise<void> {
  const child = spawn(
    process.execPath,
    [STRATA_BIN, "--cache-dir", SHARED_CACHE, "build", "-o", out, ...args],
    { cwd: dir, stdio: "ignore" },
  );
  const closed = new Promise((resolve) => child.on("close", resolve));
  const writing = (names: string[]) =>
    names.some((n) => n.startsWith(`.${basename(out)}.tmp-`) || n === basename(out));
  for (let i = 0; i < 6000 && child.exitCode === null; i++) {
    if (writing(await readdir(dirname(out)))) break;
    await sleep(2);
  }
  child.kill("SIGKILL");
  await closed;
}

/** Names in `dir` that are temp siblings of `name`. */
async function tempSiblings(dir: string, name: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith(`.${name}.tmp-`));
}

describe("outputs are whole or absent (network: host's mirror; root for the tmpfs)", () => {
  it("a build killed while writing its layout leaves no torn layout, and the rerun (without --force) works", async () => {
    const dir = await exampleCopy("busybox");
    const reference = await buildExample(dir);
    for (const format of ["oci", "oci-archive"]) {
      const out = join(dir, `killed-${format}`);
      await killWhileWriting(dir, out, ["--format", format]);
      const left = await stat(out).catch(() => undefined);
      const temps = await tempSiblings(dir, basename(out));
      assert.ok(left !== undefined || temps.length > 0, "the build was killed while writing its output");
      if (left?.isDirectory()) {
        assert.ok(await stat(join(out, "index.json")), "a layout that is there is whole");
      }
      const r = await runStrata(
        ["--cache-dir", SHARED_CACHE, "build", "-o", out, "--format", format, "--json"],
        {
          cwd: dir,
        },
      );
      if (left === undefined) assert.equal(r.code, 0, r.stderr);
      else assert.match(r.stderr, /already exists/);
      assert.deepEqual(
        await tempSiblings(dir, basename(out)),
        [],
        `the killed run's temp output is swept (${r.stderr})`,
      );
      const name = format === "oci" ? "latest" : "strata/image:latest";
      const { stdout } = await exec("skopeo", ["inspect", "--raw", `${format}:${out}:${name}`]);
      assert.equal(`sha256:${sha256(Buffer.from(stdout))}`, reference.summary.digest);
    }
  });

  it("a full output disk names the output, not the cache, and leaves nothing there (root: 600 KiB tmpfs)", async () => {
    const dir = await exampleCopy("busybox");
    await buildExample(dir);
    const tiny = await mkdtemp(join(tmpdir(), "strata-full-out-"));
    await exec("mount", ["-t", "tmpfs", "-o", "size=600k", "tmpfs", tiny]);
    try {
      for (const format of ["oci", "oci-archive"]) {
        const out = join(tiny, `image-${format}`);
        const r = await runStrata(["--cache-dir", SHARED_CACHE, "build", "-o", out, "--format", format], {
          cwd: dir,
        });
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`^strata: error: no space left on device writing ${out}$`, "m"));
        assert.match(
          r.stderr,
          /hint: free some space there or choose another output path; nothing half-written was kept/,
        );
        assert.doesNotMatch(r.stderr, /cache-dir/);
        assert.deepEqual(await readdir(tiny), [], "nothing half-written is left");
      }
    } finally {
      await exec("umount", [tiny]);
      await rm(tiny, { recursive: true, force: true });
    }
  });

  it("three --force builds to one output at once all finish cleanly and leave one whole layout", async () => {
    const dir = await exampleCopy("busybox");
    const { out, summary } = await buildExample(dir);
    const runs = await Promise.all(
      [1, 2, 3].map(() =>
        runStrata(["--cache-dir", SHARED_CACHE, "build", "-o", out, "--force"], { cwd: dir }),
      ),
    );
    for (const r of runs) {
      assert.ok(r.code === 0 || /^strata: error: .*kept being replaced/m.test(r.stderr), r.stderr);
      assert.doesNotMatch(r.stderr, /internal error/);
    }
    assert.ok(runs.some((r) => r.code === 0));
    const { stdout } = await exec("skopeo", ["inspect", "--raw", `oci:${out}:latest`]);
    assert.equal(`sha256:${sha256(Buffer.from(stdout))}`, summary.digest);
    assert.deepEqual(await tempSiblings(dir, "out"), []);
  });

  it("--tag NAME:TAG names the docker-archive image; a multi-arch docker-archive needs --platform (root: podman)", async () => {
    const dir = await exampleCopy("busybox");
    await buildExample(dir);
    const tar = join(dir, "busybox.tar");
    const r = await runStrata(
      ["--cache-dir", SHARED_CACHE, "build", "-o", tar, "--format", "docker-archive", "--tag", "myapp:v1"],
      { cwd: dir },
    );
    assert.equal(r.code, 0, r.stderr);
    const root = await mkdtemp(join(tmpdir(), "strata-podman-"));
    try {
      const { stdout } = await podmanIn(root, "load", "-i", tar);
      assert.match(stdout, /Loaded image: localhost\/myapp:v1/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
    const multi = await exampleCopy("python3");
    const m = await runStrata(
      [
        "--cache-dir",
        SHARED_CACHE,
        "build",
        "--lock-update",
        "-o",
        join(multi, "x.tar"),
        "--format",
        "docker-archive",
      ],
      { cwd: multi },
    );
    assert.equal(m.code, 2, m.stderr);
    assert.match(m.stderr, /a docker-archive holds one image, and .*strata\.yaml builds 2: amd64, arm64/);
  });
});
