import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import {
  appendFile,
  chmod,
  chown,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { LayerStore } from "../../src/run/layer-store.js";
import { composeRootfs, copyLayers } from "../../src/run/rootfs.js";
import { runStrata, STRATA_BIN } from "../helpers/cli.js";
import { buildExample, exampleCopy, SHARED_CACHE } from "../helpers/examples.js";
import { layerOf } from "../helpers/layer-tar.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";
import { syntheticImage } from "../helpers/synthetic-image.js";

/**
 * `strata run` end to end: the python3 example (an amd64 + arm64 index) from a layout and from a
 * registry, run by the real runc on overlayfs, recorded in a fresh index.
 */

interface RunJson {
  id: string;
  digest: string;
  exitCode: number;
  outcome: string;
  unpackedLayers: number;
  peakMemoryBytes: number | null;
  rootfs: string;
}

describe("strata run runs images as jobs (network: host's mirror; root: runc, overlayfs; starts docker-registry)", {
  timeout: 600_000,
}, () => {
  let layout: string;
  let work: string;
  let registry: RegistryServer;
  let cache: string;
  let env: Record<string, string>;

  /** `strata run` with this test's store and index; the record is the last stdout line. */
  async function run(image: string, flags: string[], args: string[] = []) {
    const r = await runStrata(["--cache-dir", cache, "run", image, "--json", ...flags, "--", ...args], {
      env,
    });
    const lines = r.stdout.trim().split("\n");
    return {
      ...r,
      record: JSON.parse(lines.at(-1)?.startsWith("{") ? lines.at(-1)! : "{}") as RunJson,
      output: lines.slice(0, -1).join("\n"),
    };
  }
  const py = (code: string) => ["-c", code];

  before(async () => {
    const dir = await exampleCopy("python3");
    await chmod(dir, 0o755); // the rootless test reads the layout as nobody
    layout = (await buildExample(dir)).out;
    work = await mkdtemp(join(tmpdir(), "strata-run-"));
    // The run's store lives in a cache of its own (the build's .debs are shared); the layers are unpacked here.
    cache = join(work, "cache");
    await mkdir(cache);
    env = { STRATA_INDEX: join(work, "index.db") };
    registry = await startRegistry();
    const pushed = await runStrata([
      "--cache-dir",
      SHARED_CACHE,
      "push",
      layout,
      `${registry.host}/jobs/python3:1`,
    ]);
    assert.equal(pushed.code, 0, pushed.stderr);
  });
  after(async () => {
    await registry?.close();
    await rm(work, { recursive: true, force: true });
  });

  it("runs the python3 image from a layout: the host's platform, its entrypoint and user, the output streamed", async () => {
    const r = await run(
      `oci:${layout}`,
      [],
      py("import os, platform; print(1, os.getuid(), platform.machine())"),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.output, "1 65532 x86_64");
    assert.ok(r.record.unpackedLayers > 0, "a fresh store unpacks the layers");
    assert.equal(r.record.rootfs, "overlay");
    assert.ok((r.record.peakMemoryBytes ?? 0) > 0, "peak memory is read from the cgroup");
  });

  it("a second run, from the registry by tag, unpacks nothing and is recorded against the same digest", async () => {
    const first = await run(`oci:${layout}`, [], py("print(2)"));
    const r = await run(`docker://${registry.host}/jobs/python3:1`, ["--insecure"], py("print(1)"));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.output, "1");
    assert.equal(r.record.unpackedLayers, 0);
    assert.equal(r.record.digest, first.record.digest);
    const listed = await runStrata(["runs", "--image", r.record.digest, "--json"], { env });
    const runs = JSON.parse(listed.stdout).runs as { id: string; args: string[] }[];
    assert.equal(runs[0].id, r.record.id);
    assert.deepEqual(runs[0].args, ["/usr/bin/python3", "-c", "print(1)"]);
  });

  it("strata job manifest names the pushed image by its digest and its user by number", async () => {
    const r = await runStrata([
      "job",
      "manifest",
      `${registry.host}/jobs/python3:1`,
      "--insecure",
      "--name",
      "py",
      "--json",
      "--",
      "-c",
      "print(1)",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const job = JSON.parse(r.stdout);
    const [c] = job.spec.template.spec.containers;
    assert.match(c.image, new RegExp(`^${registry.host}/jobs/python3@sha256:[0-9a-f]{64}$`));
    assert.equal(c.securityContext.runAsUser, 65532);
    assert.deepEqual(c.args, ["-c", "print(1)"]);
    const local = await runStrata(["job", "manifest", `oci:${layout}`, "--name", "py"]);
    assert.equal(local.code, 2);
    assert.match(local.stderr, /push it first/);
  });

  it("passes the job's exit code through", async () => {
    const r = await run(`oci:${layout}`, [], py("import sys; sys.exit(7)"));
    assert.equal(r.code, 7);
    assert.equal(r.record.exitCode, 7);
    assert.equal(r.record.outcome, "exited");
  });

  it("--timeout kills the job and exits 124", async () => {
    const started = Date.now();
    const r = await run(`oci:${layout}`, ["--timeout", "2s"], py("import time; time.sleep(60)"));
    assert.equal(r.code, 124, r.stderr);
    assert.equal(r.record.outcome, "timeout");
    assert.ok(Date.now() - started < 30_000);
    assert.match(r.stderr, /timed out after 2s/);
  });

  it("a memory limit the job passes gets it killed", async () => {
    const r = await run(
      `oci:${layout}`,
      ["--memory", "48M"],
      py("b = bytearray(256 << 20); print('survived')"),
    );
    assert.equal(r.code, 137, r.stdout + r.stderr);
    assert.equal(r.record.outcome, "oom");
    assert.doesNotMatch(r.output, /survived/);
  });

  it("the root is read-only and /tmp a writable tmpfs; --writable gives a throwaway writable root", async () => {
    const code =
      "import os\ntry:\n open('/etc/x','w')\nexcept OSError as e: print(e.errno)\nopen('/tmp/y','w').write('ok'); print(open('/tmp/y').read())";
    const r = await run(`oci:${layout}`, [], py(code));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.output, "30\nok"); // EROFS
    const w = await run(
      `oci:${layout}`,
      ["--writable", "--user", "0"],
      py("open('/etc/x','w').write('1'); print('wrote')"),
    );
    assert.equal(w.output, "wrote", w.stderr);
    const again = await run(`oci:${layout}`, [], py("import os; print(os.path.exists('/etc/x'))"));
    assert.equal(again.output, "False");
  });

  it("--mount binds host paths, read-only with :ro", async () => {
    const data = join(work, "data");
    await mkdir(data);
    await writeFile(join(data, "in.txt"), "from the host\n");
    const out = join(work, "out");
    await mkdir(out, { mode: 0o777 });
    const code =
      "print(open('/data/in.txt').read().strip())\ntry:\n open('/data/new','w')\nexcept OSError as e: print(e.errno)\nopen('/out/result','w').write('done')";
    const r = await run(
      `oci:${layout}`,
      ["--mount", `${data}:/data:ro`, "--mount", `${out}:/out`, "--user", "0"],
      py(code),
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.output, "from the host\n30");
    assert.equal(await readFile(join(out, "result"), "utf8"), "done");
    const bad = await run(`oci:${layout}`, ["--mount", "/nonexistent:/x"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--mount \/nonexistent:\/x: \/nonexistent does not exist/);
  });

  it("runs without root in a user namespace (as nobody), and says what is missing for the image's user and for limits", async () => {
    const home = join(work, "nobody");
    await mkdir(home);
    await chown(home, 65534, 65534);
    await chmod(work, 0o755); // mkdtemp's 0700 would keep nobody out of its home
    const asNobody = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const env = [`HOME=${home}`, `STRATA_INDEX=${join(home, "index.db")}`, "XDG_RUNTIME_DIR="];
        const argv = [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "env",
          ...env,
          process.execPath,
          STRATA_BIN,
        ];
        execFile("setpriv", [...argv, "--cache-dir", join(home, "cache"), ...args], (err, stdout, stderr) =>
          resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
        );
      });
    const code = "import os; print(os.getuid(), open('/etc/os-release').readline().strip())";
    const r = await asNobody(["run", `oci:${layout}`, "--user", "0", "--json", "--", "-c", code]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.split("\n")[0], '0 PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"');
    const record = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.equal(record.rootfs, "copy");
    assert.equal(record.runBy, "nobody (65534)");
    assert.equal(record.peakMemoryBytes, null);
    const imageUser = await asNobody(["run", `oci:${layout}`, "--", "-c", "print(1)"]);
    assert.equal(imageUser.code, 2);
    assert.match(
      imageUser.stderr,
      /runs as 65532:65532, and without root only your own ids .* can be mapped/,
    );
    assert.match(imageUser.stderr, /usermod --add-subuids/);
    const limited = await asNobody(["run", `oci:${layout}`, "--user", "0", "--memory", "64M"]);
    assert.equal(limited.code, 2);
    assert.match(limited.stderr, /--memory and --cpus need a cgroup/);
  });

  it("what a strata killed mid-run left (its container, overlay mount and run dir) is swept by the next run", async () => {
    const env2 = { ...process.env, ...env };
    const child = spawn(
      process.execPath,
      [
        STRATA_BIN,
        "--cache-dir",
        cache,
        "run",
        `oci:${layout}`,
        "--name",
        "killed",
        "--",
        "-c",
        "print('up', flush=True); import time; time.sleep(120)",
      ],
      { env: env2, stdio: ["ignore", "pipe", "pipe"] },
    );
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    const runs = join(cache, "runs");
    const left = (await readdir(runs)).filter((n) => n.startsWith("killed-"));
    assert.equal(left.length, 1);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("close", resolve));
    const mounts = () => readFile("/proc/self/mountinfo", "utf8");
    assert.ok(
      (await mounts()).includes(join(runs, left[0], "rootfs")),
      "the killed run's overlay is still mounted",
    );
    const r = await run(`oci:${layout}`, [], ["-c", "print(1)"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      (await readdir(runs)).filter((n) => n.startsWith("killed-")),
      [],
    );
    assert.ok(!(await mounts()).includes(join(runs, left[0])), "its mount is gone");
    const state = await new Promise<string>((resolve) =>
      execFile("runc", ["list", "-q"], (_e, out) => resolve(out)),
    );
    assert.ok(
      !state.split("\n").some((id) => id.startsWith("killed-")),
      "runc no longer holds its container",
    );
  });

  it("a layer changed in the store is refused: it is unpacked again and the job never sees the change", async () => {
    const store = join(cache, "layers-unpacked");
    const entries = (await readdir(store)).filter((e) => /^[0-9a-f]{64}$/.test(e));
    let target: string | undefined;
    for (const e of entries) {
      const passwd = join(store, e, "root", "etc", "passwd");
      if (
        await readFile(passwd).then(
          () => true,
          () => false,
        )
      )
        target = passwd;
    }
    assert.ok(target, "some layer holds /etc/passwd");
    await appendFile(target, "evil:x:0:0::/:/bin/sh\n");
    const r = await run(`oci:${layout}`, [], py("print('evil' in open('/etc/passwd').read())"));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /changed since it was unpacked; unpacking it again/);
    assert.equal(r.record.unpackedLayers, 1);
    assert.equal(r.output, "False");
  });
});

describe("strata run composes layers as a runtime does (root: overlayfs, mknod, setfattr)", {
  timeout: 60_000,
}, () => {
  it("whiteouts, opaque directories and entries of another type hide what is below, through overlayfs and through the copy fallback", async () => {
    const dir = await mkdtemp(join(tmpdir(), "strata-compose-"));
    try {
      const store = new LayerStore(join(dir, "layers"));
      const lower = await layerOf([
        { path: "etc/gone", body: "x" },
        { path: "etc/kept", body: "kept" },
        { path: "opt/app/old", body: "old" },
        { path: "var/run" },
        { path: "srv/data", body: "a file below" },
      ]);
      // A link over a directory (base-files' /var/run -> /run in strata's files layer) and a
      // directory over a file replace what is below, as a runtime applies layers.
      const upper = await layerOf([
        { path: "etc/.wh.gone", body: "" },
        { path: "opt/app/.wh..wh..opq", body: "" },
        { path: "opt/app/new", body: "new" },
        { path: "var/run", type: "symlink", linkname: "/run" },
        { path: "srv/data" },
        { path: "srv/data/inside", body: "in" },
      ]);
      const layers = await store.layersOf(syntheticImage([lower, upper]), "test");
      const seen = async (root: string) => [
        await readdir(join(root, "etc")),
        (await readdir(join(root, "opt/app"))).sort(),
        await readlink(join(root, "var/run")),
        await readdir(join(root, "srv/data")),
      ];
      await mkdir(join(dir, "run"));
      const rootfs = await composeRootfs(layers, join(dir, "run"));
      assert.equal(rootfs.how, "overlay");
      assert.deepEqual(await seen(rootfs.path), [["kept"], ["new"], "/run", ["inside"]]);
      await rootfs.release();
      const copy = join(dir, "copy");
      await mkdir(copy);
      await copyLayers(layers, copy);
      assert.deepEqual(await seen(copy), [["kept"], ["new"], "/run", ["inside"]]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
