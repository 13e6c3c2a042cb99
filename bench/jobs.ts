/**
 * Section 12, `strata run` (also alone: `npm run bench -- run`): the python3 image (amd64) run to
 * its first line of output. Warm (every layer in the store) beside `podman run --rm` of the same
 * image loaded into podman (overlay storage), interleaved; cold (an empty store) beside
 * `skopeo copy` + `umoci unpack` + `runc run`, the tools the README's quick start used before.
 */
import { spawn } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ratio, table, timing, verdict } from "./format.js";
import { interleave, log, run, type Sample, STRATA_BIN, strata } from "./proc.js";

const CODE = "print(1)";
/** podman's default nofile and nproc limits are above this machine's hard limits; strata's jobs get 1024 files. */
const NOFILE = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"];

/** Seconds from spawn to the first byte on stdout; the process is then awaited to its end. */
function toFirstOutput(cmd: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const t = performance.now();
    let first: number | undefined;
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    let stderr = "";
    child.stdout.on("data", () => {
      first ??= (performance.now() - t) / 1000;
    });
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 && first !== undefined
        ? resolve(first)
        : reject(new Error(`${cmd} exited ${code}: ${stderr.slice(0, 400)}`)),
    );
  });
}

function podmanArgs(root: string): string[] {
  const storage = [
    "--root",
    join(root, "storage"),
    "--runroot",
    join(root, "run"),
    "--storage-driver",
    "overlay",
  ];
  return [...storage, "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "runc"];
}

export async function benchJobs(work: string, buildCache: string, n: number): Promise<string> {
  const dir = join(work, "jobs");
  await mkdir(dir, { recursive: true });
  const spec = (await readFile(new URL("../examples/python3/strata.yaml", import.meta.url), "utf8")).replace(
    /^archs: .*$/m,
    "archs: [amd64]",
  );
  await writeFile(join(dir, "strata.yaml"), spec);
  log("jobs: building the python3 image (amd64)");
  await strata([
    "--cache-dir",
    buildCache,
    "build",
    "--lock-update",
    "-o",
    join(dir, "py"),
    "--force",
    "-q",
    join(dir, "strata.yaml"),
  ]);
  const cache = join(dir, "run-cache");
  const env = { STRATA_INDEX: join(dir, "index.db") };
  const strataRun = () =>
    toFirstOutput(
      process.execPath,
      [STRATA_BIN, "-q", "--cache-dir", cache, "run", `oci:${join(dir, "py")}`, "--", "-c", CODE],
      env,
    );
  const pod = podmanArgs(join(dir, "podman"));
  await run("skopeo", [
    "copy",
    `oci:${join(dir, "py")}:latest`,
    `docker-archive:${join(dir, "py.tar")}:strata/py:latest`,
  ]);
  const loaded = await run("podman", [...pod, "load", "-i", join(dir, "py.tar")]);
  // podman names a docker-archive's "strata/py" after its default registry (docker.io/strata/py).
  const name =
    /Loaded image(?:\(s\))?: *(\S+)/.exec(loaded.stdout + loaded.stderr)?.[1] ?? "docker.io/strata/py:latest";
  const podmanRun = () =>
    toFirstOutput("podman", [...pod, "run", "--rm", "--network", "none", ...NOFILE, name, "-c", CODE]);
  let warm: Sample;
  let podman: Sample;
  try {
    await strataRun(); // fills the store
    await podmanRun();
    log(`jobs: warm strata run vs podman run --rm, x${n}`);
    [warm, podman] = await interleave(n, [{ body: strataRun }, { body: podmanRun }]);
  } finally {
    // podman's overlay driver mounts its storage; a reset unmounts it, so the work dir can go.
    await run("podman", [...pod, "system", "reset", "-f"], { allowFail: true });
  }
  const bundle = join(dir, "bundle");
  const peerCold = async () => {
    const t = performance.now();
    await run("skopeo", ["copy", `oci:${join(dir, "py")}:latest`, `oci:${join(dir, "copy")}:latest`]);
    await run("umoci", ["unpack", "--image", `${join(dir, "copy")}:latest`, bundle]);
    const config = JSON.parse(await readFile(join(bundle, "config.json"), "utf8"));
    config.process.terminal = false;
    config.process.args = ["/usr/bin/python3", "-c", CODE];
    await writeFile(join(bundle, "config.json"), JSON.stringify(config));
    const prepared = (performance.now() - t) / 1000;
    return prepared + (await toFirstOutput("runc", ["run", "-b", bundle, `bench-${process.pid}`]));
  };
  log(`jobs: cold strata run vs skopeo + umoci + runc, x${n}`);
  const [cold, peer] = await interleave(n, [
    { before: () => rm(join(cache, "layers-unpacked"), { recursive: true, force: true }), body: strataRun },
    {
      before: () =>
        rm(join(dir, "copy"), { recursive: true, force: true }).then(() =>
          rm(bundle, { recursive: true, force: true }),
        ),
      body: peerCold,
    },
  ]);
  return [
    "### 12. strata run — python3 (amd64), to the first line of output",
    "",
    table(
      ["what", "time (median, N, min–max)", "vs peer", "target"],
      [
        [
          "strata run, warm (every layer in the store)",
          timing(warm),
          ratio(warm.median, podman.median),
          `≤ 0.5× podman: ${verdict(warm.median <= 0.5 * podman.median)}`,
        ],
        ["podman run --rm (image loaded, overlay storage)", timing(podman), "1.00×", ""],
        [
          "strata run, cold (empty store: every layer unpacked)",
          timing(cold),
          ratio(cold.median, peer.median),
          "",
        ],
        ["skopeo copy + umoci unpack + runc run", timing(peer), "1.00×", ""],
      ],
    ),
  ].join("\n");
}
