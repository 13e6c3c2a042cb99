import { rm } from "node:fs/promises";
import { join } from "node:path";
import { startRegistry } from "../test/helpers/registry.js";
import { mb, ratio, secs, table, timing, verdict } from "./format.js";
import { type Arm, interleave, log, strata } from "./proc.js";

/**
 * 6. Reuse: CI on a fresh machine. `build --push` of the python3 image cold (empty cache, a
 * repository that has nothing), against `build --push` on an empty cache to the repository that
 * already holds the image (its layers reused: no .deb fetched, no layer made, no byte sent), against
 * a warm build --push. Target (issue 7 §4): the reuse run within 2× of the warm one.
 */

interface PushRun {
  seconds: number;
  bytesSent: number;
  debs: number;
  reused: number;
}

function remove(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

export async function benchReuse(
  work: string,
  specDir: string,
  cleanups: Array<() => Promise<void>>,
  quick: boolean,
): Promise<string> {
  const registry = await startRegistry();
  cleanups.push(() => registry.close());
  const spec = join(specDir, "strata.yaml");
  const runs = { cold: [] as PushRun[], reuse: [] as PushRun[], warm: [] as PushRun[] };
  let coldRepo = 0;
  // Mount hints live in the user cache: one of the bench's own, emptied for cold runs.
  const xdg = join(work, "reuse-xdg");
  const push = async (cache: string, ref: string, into: PushRun[]): Promise<number> => {
    const r = await strata(["--cache-dir", cache, "build", spec, "--push", ref, "--json"], {
      env: { XDG_CACHE_HOME: xdg },
    });
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    into.push({
      seconds: r.seconds,
      bytesSent: out.push.bytesSent,
      debs: out.work.debsDownloaded,
      reused: out.work.layersReused,
    });
    return r.seconds;
  };
  const ref = `${registry.host}/bench/python3:latest`;
  const warmCache = join(work, "reuse-warm");
  const emptyCache = join(work, "reuse-empty");
  log("reuse: seeding the registry and a warm cache");
  await push(warmCache, ref, []);
  const arms: Arm[] = [
    {
      before: async () => Promise.all([remove(emptyCache), remove(xdg)]).then(() => undefined),
      body: () => push(emptyCache, `${registry.host}/cold/python3-${++coldRepo}:latest`, runs.cold),
    },
    { before: () => remove(emptyCache), body: () => push(emptyCache, ref, runs.reuse) },
    { body: () => push(warmCache, ref, runs.warm) },
  ];
  const n = quick ? 1 : 3;
  log(`reuse: cold / reuse on an empty cache / warm build --push, interleaved x${n}`);
  const [cold, reuse, warm] = await interleave(n, arms);
  const manifest = await manifestBytes(registry.host, "bench/python3", "latest");
  const last = (r: PushRun[]) => r.at(-1)!;
  const ok = reuse.median <= 2 * warm.median;
  const row = (what: string, s: typeof cold, r: PushRun) => [
    what,
    timing(s),
    mb(r.bytesSent),
    String(r.debs),
    String(r.reused),
  ];
  return [
    "### 6. Reuse — `build --push` of the python3 image (amd64) on a fresh machine",
    "",
    table(
      ["run", "time", "bytes sent", ".debs downloaded", "layers reused"],
      [
        row("cold: empty cache, empty repository", cold, last(runs.cold)),
        row("empty cache, REF holds the image (layers reused)", reuse, last(runs.reuse)),
        row("warm cache, REF holds the image", warm, last(runs.warm)),
      ],
    ),
    "",
    `Reuse against warm: ${ratio(reuse.median, warm.median)} (target ≤ 2×): ${verdict(ok)}. ` +
      `Reuse against cold: ${ratio(reuse.median, cold.median)}. ` +
      `The image's manifest (with every layer's facts) is ${(manifest / 1024).toFixed(0)} KiB (registries take 4 MiB); ${secs(cold.median)} cold.`,
  ].join("\n");
}

async function manifestBytes(host: string, repository: string, tag: string): Promise<number> {
  const res = await fetch(`http://${host}/v2/${repository}/manifests/${tag}`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    signal: AbortSignal.timeout(10_000),
  });
  return (await res.arrayBuffer()).byteLength;
}
