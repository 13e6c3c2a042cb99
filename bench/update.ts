import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { hostAptSources } from "../src/debian/sources.js";
import { type RegistryServer, startRegistry } from "../test/helpers/registry.js";
import { mb, secs, table, timing, verdict } from "./format.js";
import { log, repeat, strata } from "./proc.js";

const QUICK = process.env.BENCH_QUICK === "1";
const RUNS = QUICK ? 1 : 5;

/** python3 for amd64 from the host's apt sources, with or without the security suites. */
function pythonSpec(withSecurity: boolean): string {
  const sources = hostAptSources().filter(
    (s) => withSecurity || !s.suites.some((suite) => suite.endsWith("-security")),
  );
  const repos = sources.map(
    (s) =>
      `  - url: ${s.url}\n    suites: [${s.suites.join(", ")}]\n    components: [${s.components.join(", ")}]`,
  );
  return `repositories:\n${repos.join("\n")}\narchs: [amd64]\npackages: [python3]\n`;
}

interface UpdateReport {
  digest: string;
  changes: { name: string; from: string | null; to: string | null }[];
  newLayers: { size: number }[];
  bytesSent: number;
  seconds: number;
}

interface LockedDeb {
  name: string;
  version: string;
  sha256: string;
  size: number;
  repository: string;
  filename: string;
}

/** Forgets one .deb and every layer made of it, so the next update must download it again. */
async function forgetDeb(cache: string, sha256: string): Promise<void> {
  await rm(join(cache, "debs", "sha256", sha256), { force: true });
  const layers = join(cache, "layers");
  for (const f of await readdir(layers)) {
    if ((await readFile(join(layers, f), "utf8")).includes(sha256)) await rm(join(layers, f));
  }
}

/** Seconds to download `deb` alone (fetch, whole body read), for "beyond fetching its .deb". */
async function fetchSeconds(deb: LockedDeb): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${deb.repository}/${deb.filename}`, { signal: AbortSignal.timeout(60_000) });
  await res.arrayBuffer();
  return (performance.now() - started) / 1000;
}

/**
 * 7. `strata update` of one package of the python3 image in a loopback registry: the image is built
 * and pushed from bookworm without the security suite; each run puts the old image back under the
 * tag and the old lock beside the spec, then updates one package the security suite has newer
 * (libssl3 when it is among them) in place: with its .deb (and layer) cached, and with its .deb cold.
 */
export async function benchUpdate(work: string, cache: string, cleanups: Array<() => Promise<void>>) {
  const dir = join(work, "update");
  const spec = join(dir, "strata.yaml");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(spec, pythonSpec(false));
  await strata(["--cache-dir", cache, "build", "--lock-update", "-o", join(dir, "old"), spec]);
  const oldLock = await readFile(join(dir, "strata.lock"), "utf8");
  await writeFile(spec, pythonSpec(true));
  // A registry of its own per run, holding only the old image: what an update sends is then what
  // the registry lacked (in one registry, the second run would find the new layer there already).
  let registry: RegistryServer | undefined;
  let ref = "";
  cleanups.push(async () => registry?.close());
  const reset = async () => {
    await registry?.close();
    registry = await startRegistry();
    ref = `${registry.host}/bench/python3:latest`;
    await writeFile(join(dir, "strata.lock"), oldLock);
    await strata(["push", join(dir, "old"), ref]);
  };

  log("update: which packages the security suite updates");
  await reset();
  const probe = await strata([
    "--cache-dir",
    cache,
    "update",
    `docker://${ref}`,
    "--spec",
    spec,
    "--all",
    "-o",
    join(dir, "probe"),
    "--json",
  ]);
  const all = JSON.parse(probe.stdout.trim().split("\n").at(-1)!) as UpdateReport;
  const change = all.changes.find((c) => c.name === "libssl3") ?? all.changes.find((c) => c.from && c.to);
  if (!change)
    return "### 7. Update — nothing to measure: the security suite updates no package of python3's closure";
  const newLock = JSON.parse(await readFile(join(dir, "strata.lock"), "utf8")) as { packages: LockedDeb[] };
  const deb = newLock.packages.find((p) => p.name === change.name)!;

  /** One timed update (wall clock, process start included, as the other sections time commands). */
  const update = async (cold: boolean): Promise<UpdateReport> => {
    await reset();
    if (cold) await forgetDeb(cache, deb.sha256);
    const r = await strata([
      "--cache-dir",
      cache,
      "update",
      `docker://${ref}`,
      "--spec",
      spec,
      "--package",
      change.name,
      "--json",
    ]);
    return { ...(JSON.parse(r.stdout.trim().split("\n").at(-1)!) as UpdateReport), seconds: r.seconds };
  };
  const reports: UpdateReport[] = [];
  const arm = (cold: boolean) => async () => {
    const report = await update(cold);
    reports.push(report);
    return report.seconds;
  };
  log(`update: ${change.name} in place, its .deb cached, x${RUNS}`);
  const cached = await repeat(RUNS, arm(false));
  log(`update: ${change.name} in place, its .deb cold, x${RUNS}`);
  const cold = await repeat(RUNS, arm(true));
  const fetched = await repeat(RUNS, () => fetchSeconds(deb));
  const startup = await repeat(RUNS, async () => (await strata(["--version"])).seconds);
  const last = reports.at(-1)!;
  const layerBytes = last.newLayers.reduce((n, l) => n + l.size, 0);
  // Config and manifest of a 40-layer image are a few KB; 64 KiB is a generous ceiling for them.
  const bytesOk = reports.every((r) => r.bytesSent >= layerBytes && r.bytesSent <= layerBytes + 64 * 1024);
  const beyond = (s: number) => s - fetched.median;
  return [
    `### 7. Update — \`strata update --package ${change.name}\` of the python3 image in a loopback registry (${change.from} → ${change.to})`,
    "",
    table(
      ["what", "time (median, N, min–max)", "bytes sent", "target / note"],
      [
        [
          "update in place, its .deb and layer cached",
          timing(cached),
          mb(last.bytesSent),
          `≤ 0.3 s: ${verdict(cached.median <= 0.3)} (process start ${secs(startup.median)} included)`,
        ],
        [
          "update in place, its .deb cold (downloaded)",
          timing(cold),
          mb(last.bytesSent),
          `${secs(beyond(cold.median))} beyond fetching its .deb; ≤ 0.3 s: ${verdict(beyond(cold.median) <= 0.3)}`,
        ],
        [`for scale: fetching the .deb alone (${mb(deb.size)})`, timing(fetched), "", ""],
        [
          "bytes sent vs the new layers + config + manifest",
          "",
          `${mb(layerBytes)} of new layers`,
          `every run sends the new layers and ≤ 64 KiB more: ${verdict(bytesOk)}`,
        ],
      ],
    ),
    "",
    `_Every run: a fresh registry gets the old image under the tag and the old lock is put beside the spec first (not timed). The update re-verifies the InRelease files and reads the cached Packages indexes, resolves, builds the one new layer, pushes it, the config and the manifest, and writes the lock._`,
  ].join("\n");
}
