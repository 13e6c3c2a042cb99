import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { runStrata, STRATA_BIN } from "../helpers/cli.js";
import { buildExample, exampleCopy, SHARED_CACHE } from "../helpers/examples.js";

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
      const { stdout } = await exec("find", [tiny, "-type", "f"]);
      assert.equal(stdout.trim(), "", "no partial file is left in the cache");
    } finally {
      await exec("umount", [tiny]);
      await rm(tiny, { recursive: true, force: true });
    }
  });

  it("leaves no torn cache entry when killed in the middle, and the next build completes", async () => {
    const cache = await mkdtemp(join(tmpdir(), "strata-cache-"));
    const dir = await exampleCopy("python3", (s) => s.replace(/^archs: .*$/m, "archs: [amd64]"));
    const reference = await buildExample(dir, [], join(tmpdir(), "strata-test-cache"));
    for (const delay of [400, 1500]) {
      const child = spawn(
        process.execPath,
        [STRATA_BIN, "--cache-dir", cache, "build", "-o", join(dir, "killed"), "--force"],
        {
          cwd: dir,
          stdio: "ignore",
        },
      );
      await sleep(delay);
      child.kill("SIGKILL");
      await new Promise((resolve) => child.on("close", resolve));
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
