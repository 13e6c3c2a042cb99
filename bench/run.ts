/**
 * `npm run bench`: strata against its peers on this machine, in one run.
 *
 *   1. lock: `strata lock` cold and warm beside apt-get's simulated install.
 *   2. build: the python3 image cold, with the .debs cached, and warm, beside mmdebstrap + umoci,
 *      and beside a floor (decompress every data.tar and gzip it, 2 workers).
 *   3. registry corpus: >= 8 images pushed to a local docker-registry, bytes stored against the
 *      distinct packages' bytes, and against the same images pushed as one layer each.
 *   4. effects parity: per package set, the effects dpkg's maintainer scripts made (mmdebstrap),
 *      how many strata's image holds, how many are skipped on purpose, and which are missing.
 *   5. layer memory: peak RSS of one layer build (bench/layer-memory.ts) for the biggest .deb of
 *      the build section and for a 2 GiB gzip bomb, against the documented per-worker bound.
 *   6. reuse: `build --push` cold, with every layer reused from REF on an empty cache, and warm
 *      (bench/reuse.ts).
 *   7. update: `strata update --package` of one package of the python3 image in a loopback
 *      registry (bench/update.ts), its .deb cached and cold, and the bytes sent.
 *   8. SBOM: `strata sbom` of the python3 image, computed, attached and read back, beside Trivy
 *      (bench/sbom.ts).
 *   9. fleet index: 10,000 generated strata images on SQLite and PostgreSQL, `strata query` p50/p99
 *      in-process and as a whole command, and `index sync` of 200 images in a loopback registry.
 *  10. vulnerabilities: advisories update and scan --fleet over the section 9 fleet; the admission
 *      webhook under 20 keep-alive connections (requests/s, p50, p99) (bench/vuln.ts); the same
 *      with signatures required, 100 signed images in a loopback registry (bench/signatures.ts).
 *  11. page API and strata ps: a generated fleet; API calls p50/p99 in-process, strata ps --pods
 *      (bench/serve.ts).
 *  12. strata run: the python3 image to its first line of output, warm beside podman run --rm and
 *      cold beside skopeo + umoci + runc (bench/jobs.ts).
 *
 * `npm run bench -- NAME...` runs only the sections named (SECTIONS below), each with the load
 * average before and after it; BENCH_QUIET=1 waits for a quiet machine before each.
 * Progress goes to stderr; the report (markdown) to stdout and to .bench/results.md.
 * BENCH_QUICK=1 runs everything once (for developing the bench itself); BENCH_KEEP=1 keeps the
 * work dir (registries' storage, layouts) for inspection.
 */
import { existsSync } from "node:fs";
import {
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import {
  hostSourceFiles,
  measureParity,
  PARITY_SETS,
  type ParityResult,
} from "../test/helpers/effects-parity.js";
import { startRegistry } from "../test/helpers/registry.js";
import { buildProfileMarkdown, profileColdBuild } from "./build-profile.js";
import { benchFleet } from "./fleet.js";
import { mb, ratio, secs, table, timing, verdict } from "./format.js";
import { benchJobs } from "./jobs.js";
import { imageSize, type LayoutImage, layoutImages, registryBlobBytes } from "./oci.js";
import {
  type Arm,
  interleave,
  killChildren,
  log,
  mapLimit,
  ROOT,
  redact,
  repeat,
  run,
  type Sample,
  sample,
  sh,
  strata,
  timed,
} from "./proc.js";
import { benchReuse } from "./reuse.js";
import { benchSbom } from "./sbom.js";
import { benchServe } from "./serve.js";
import { benchSignedWebhook } from "./signatures.js";
import { benchUpdate } from "./update.js";
import { benchVuln, benchWebhookOpenLoop } from "./vuln.js";

const QUICK = process.env.BENCH_QUICK === "1";
const N = {
  lockCold: QUICK ? 1 : 5,
  lockWarm: QUICK ? 1 : 7,
  buildCold: QUICK ? 1 : 5,
  buildDebs: QUICK ? 1 : 5,
  buildWarm: QUICK ? 1 : 7,
  startup: QUICK ? 1 : 7,
  peer: QUICK ? 1 : 5,
  floor: QUICK ? 1 : 5,
};

/** design.md §6: python3 closure (50 .debs, 25 MB, 119 MB of tar), two workers. */
const DESIGN_FLOORS = { decompress: 1.3, gzip1: 3.0, gzip6: 5.3 };

const PYTHON3_SPEC = "archs: [amd64]\npackages: [python3]\n";

/** Specs made up for the corpus when examples/ has fewer than 8 (amd64 only, default excludes). */
const EXTRA_SPECS: Array<[string, string[]]> = [
  ["curl", ["curl", "ca-certificates"]],
  ["perl", ["perl"]],
  ["ruby", ["ruby"]],
  ["git", ["git"]],
  ["python3", ["python3"]],
  ["nginx", ["nginx"]],
  ["busybox", ["busybox"]],
  ["static", ["base-files", "ca-certificates", "tzdata", "netbase"]],
  ["openssl", ["openssl", "ca-certificates"]],
  ["bash", ["bash", "coreutils"]],
];
const CORPUS_MIN = 8;

interface LockedPackage {
  name: string;
  version: string;
  arch: string;
  architecture: string;
  sha256: string;
  size: number;
}

async function readLockPackages(specDir: string): Promise<LockedPackage[]> {
  const lock = JSON.parse(await readFile(join(specDir, "strata.lock"), "utf8")) as {
    packages: LockedPackage[];
  };
  return lock.packages;
}

async function fresh(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
}

/** A section that could not be measured says why instead of failing the whole run. */
function notMeasured(what: string, err: unknown): string {
  const message = redact(err instanceof Error ? err.message : String(err));
  log(`${what}: not measured: ${message}`);
  return `_${what} not measured:_\n\n\`\`\`\n${message}\n\`\`\``;
}

async function hasCommand(name: string): Promise<boolean> {
  const r = await strata([name, "--help"], { allowFail: true });
  return r.code === 0;
}

// ---------------------------------------------------------------------------------------------
// 1. Lock
// ---------------------------------------------------------------------------------------------

async function benchLock(work: string, specDir: string): Promise<{ md: string; lockCache: string }> {
  const spec = join(specDir, "strata.yaml");
  const lockCache = join(work, "lock-cache");
  let packages = 0;
  const emptyStatus = join(work, "empty-status");
  await writeFile(emptyStatus, "");
  const simulate = (extra: string[]) =>
    run("apt-get", [
      "install",
      "-s",
      "--no-install-recommends",
      "-o",
      `Dir::State::status=${emptyStatus}`,
      ...extra,
      "python3",
    ]);
  let aptPackages = 0;
  // apt from nothing: its own `apt-get update` into empty lists, then the same simulation.
  const aptState = join(work, "apt-state");
  const aptDirs = [
    "-o",
    `Dir::State::Lists=${join(aptState, "lists")}`,
    "-o",
    `Dir::Cache=${join(aptState, "cache")}`,
  ];

  log(`lock: cold, interleaved with apt-get update + -s, x${N.lockCold}`);
  const [cold, aptCold] = await interleave(N.lockCold, [
    {
      before: () => fresh(lockCache),
      body: async () => (await strata(["--cache-dir", lockCache, "lock", spec])).seconds,
    },
    {
      before: async () => {
        await fresh(aptState);
        await mkdir(join(aptState, "lists", "partial"), { recursive: true });
        await mkdir(join(aptState, "cache", "archives", "partial"), { recursive: true });
      },
      body: async () => {
        const update = await run("apt-get", ["-q", ...aptDirs, "update"]);
        const sim = await simulate(aptDirs);
        return update.seconds + sim.seconds;
      },
    },
  ]);
  log(`lock: warm, interleaved with apt-get -s, x${N.lockWarm}`);
  const [warm, apt] = await interleave(N.lockWarm, [
    {
      body: async () => {
        const r = await strata(["--cache-dir", lockCache, "lock", spec, "--json"]);
        const summary = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as { packages?: number };
        packages = summary.packages ?? 0;
        return r.seconds;
      },
    },
    {
      body: async () => {
        const r = await simulate([]);
        aptPackages = r.stdout.split("\n").filter((l) => l.startsWith("Inst ")).length;
        return r.seconds;
      },
    },
  ]);
  await rm(aptState, { recursive: true, force: true });

  const target = warm.median <= 0.5 * apt.median;
  const md = [
    `### 1. Lock — python3, amd64 (${packages} packages locked; apt installs ${aptPackages})`,
    "",
    table(
      ["what", "time (median, N, min–max)", "vs apt-get -s", "target"],
      [
        [
          "`strata lock`, cold (empty `--cache-dir`: InRelease + Packages downloaded)",
          timing(cold),
          ratio(cold.median, apt.median),
          "",
        ],
        [
          "`strata lock`, warm (same cache)",
          timing(warm),
          ratio(warm.median, apt.median),
          `≤ 0.5× apt: ${verdict(target)}`,
        ],
        [
          "`apt-get install -s --no-install-recommends` (host's lists, empty status)",
          timing(apt),
          "1.00×",
          "",
        ],
        [
          "`apt-get update` into empty lists + the same `-s`",
          timing(aptCold),
          ratio(aptCold.median, apt.median),
          "",
        ],
      ],
    ),
  ].join("\n");
  return { md, lockCache };
}

// ---------------------------------------------------------------------------------------------
// 2. Build
// ---------------------------------------------------------------------------------------------

interface PeerRun {
  mmdebstrap: number;
  umoci: number;
}

async function peerOnce(
  work: string,
  packages: string[],
  sources: string[],
  debCache: string,
  useCache: boolean,
): Promise<PeerRun> {
  const rootfs = join(work, "peer-root");
  const layout = join(work, "peer-layout");
  await rm(rootfs, { recursive: true, force: true });
  await rm(layout, { recursive: true, force: true });
  const args = ["--variant=extract", "--quiet", `--include=${packages.join(",")}`, "--skip=essential/unlink"];
  if (useCache) {
    args.push(
      `--setup-hook=mkdir -p "$1"/var/cache/apt/archives/`,
      `--setup-hook=sync-in ${debCache} /var/cache/apt/archives/`,
    );
  } else {
    // Keep what it downloads for the cached runs (a 17 MB copy: noise next to the rest).
    await fresh(debCache);
    args.push(`--extract-hook=sync-out /var/cache/apt/archives ${debCache}`);
  }
  const m = await run("mmdebstrap", [...args, "bookworm", rootfs, ...sources]);
  const started = performance.now();
  await run("umoci", ["init", "--layout", layout]);
  await run("umoci", ["new", "--image", `${layout}:latest`]);
  await run("umoci", ["insert", "--image", `${layout}:latest`, rootfs, "/"]);
  return { mmdebstrap: m.seconds, umoci: (performance.now() - started) / 1000 };
}

/** Peer runs, as interleave() arms, keeping each run's two parts. */
function peerArm(
  work: string,
  packages: string[],
  sources: string[],
  debCache: string,
  useCache: boolean,
  runs: PeerRun[],
): Arm {
  return {
    body: async () => {
      const r = await peerOnce(work, packages, sources, debCache, useCache);
      runs.push(r);
      return r.mmdebstrap + r.umoci;
    },
  };
}

function peerParts(runs: PeerRun[]): string {
  const m = sample(runs.map((r) => r.mmdebstrap)).median;
  const u = sample(runs.map((r) => r.umoci)).median;
  return `mmdebstrap ${secs(m)} + umoci ${secs(u)}`;
}

/** Decompressor for a .deb's data member, by its suffix. */
function decompressor(member: string): string {
  if (member.endsWith(".xz")) return "xz -dc";
  if (member.endsWith(".zst")) return "zstd -dc";
  if (member.endsWith(".gz")) return "gzip -dc";
  if (member.endsWith(".bz2")) return "bzip2 -dc";
  return "cat";
}

/** Floor: every .deb's data.tar decompressed (and optionally gzipped), 2 parallel workers. */
async function floorRun(debs: Array<{ path: string; member: string }>, gzipLevel?: number): Promise<number> {
  const started = performance.now();
  await mapLimit(debs, 2, async (d) => {
    const tail = gzipLevel === undefined ? "" : ` | gzip -${gzipLevel}`;
    await sh(`ar p '${d.path}' '${d.member}' | ${decompressor(d.member)}${tail} > /dev/null`);
  });
  return (performance.now() - started) / 1000;
}

async function benchBuild(work: string, specDir: string): Promise<string> {
  const spec = join(specDir, "strata.yaml");
  const locked = (await readLockPackages(specDir)).filter((p) => p.arch === "amd64");
  const debBytes = locked.reduce((s, p) => s + p.size, 0);
  const cache = join(work, "build-cache");
  const out = join(work, "build-out");
  const parts: string[] = [
    `### 2. Build — python3 image, amd64 (${locked.length} packages, ${mb(debBytes)} of .debs)`,
    "",
  ];

  let layers = 0;
  let size = 0;
  let buildError: string | undefined;
  log(`build: \`strata --version\` x${N.startup} (process start, for scale)`);
  const startup = await repeat(N.startup, async () => (await strata(["--version"])).seconds);
  const canBuild = await hasCommand("build");
  if (!canBuild) buildError = "`strata build` is not in the CLI yet";
  /** A strata build as an interleave() arm; a failure is remembered, not thrown, so the peer still runs. */
  const buildArm = (before?: () => Promise<void>, extra: string[] = []): Arm => ({
    before,
    body: async () => {
      if (buildError) return Number.NaN;
      try {
        return timed(await strata(["--cache-dir", cache, "build", spec, "-o", out, "--force", ...extra]));
      } catch (err) {
        buildError = redact(err instanceof Error ? err.message : String(err));
        log(`build: failed: ${buildError}`);
        return Number.NaN;
      }
    },
  });
  const arms = (strataArm: Arm, ...others: Arm[]) => (canBuild ? [strataArm, ...others] : others);
  const strataSample = (all: Sample[]) => (canBuild && !buildError ? all[0] : undefined);

  const sources = await hostSourceFiles();
  const peerCache = join(work, "peer-debs");
  const names = locked.map((p) => p.name);
  const peerColdRuns: PeerRun[] = [];
  const peerCachedRuns: PeerRun[] = [];

  log(`build: cold, interleaved with mmdebstrap + umoci, x${N.buildCold}`);
  const coldSamples = await interleave(
    N.buildCold,
    arms(
      buildArm(() => fresh(cache)),
      peerArm(work, names, sources, peerCache, false, peerColdRuns),
    ),
  );
  const cold = strataSample(coldSamples);
  const peerCold = coldSamples[coldSamples.length - 1];
  const peerDebs = (await readdir(peerCache)).filter((f) => f.endsWith(".deb")).length;

  // The floor needs the .debs: from the build's cache, else fetched.
  const debPath = (p: LockedPackage) => join(cache, "debs", "sha256", p.sha256);
  if (!locked.every((p) => existsSync(debPath(p)))) {
    log("floor: fetching the .debs");
    await strata(["--cache-dir", cache, "fetch", spec]);
  }
  const debs = await Promise.all(
    locked.map(async (p) => {
      const members = (await run("ar", ["t", debPath(p)])).stdout.split("\n");
      const member = members.find((m) => m.startsWith("data.tar"));
      if (!member) throw new Error(`${p.name}: no data.tar member`);
      return { path: debPath(p), member };
    }),
  );

  log(`build: .debs cached, interleaved with the peer (.debs cached) and the gzip -1 floor, x${N.buildDebs}`);
  const cachedSamples = await interleave(
    N.buildDebs,
    arms(
      buildArm(async () => {
        await rm(join(cache, "layers"), { recursive: true, force: true });
        await rm(join(cache, "blobs"), { recursive: true, force: true });
      }),
      peerArm(work, names, sources, peerCache, true, peerCachedRuns),
      { body: () => floorRun(debs, 1) },
    ),
  );
  const debsCached = strataSample(cachedSamples);

  // The same build with zstd layers (the spec's `layers.compression`), to show what the gzip
  // implementation costs: gzip is libdeflate in WebAssembly, pinned for the same digests everywhere.
  let zstdCached: Sample | undefined;
  if (canBuild && !buildError) {
    const zstdDir = join(work, "zstd-spec");
    await mkdir(zstdDir, { recursive: true });
    await writeFile(
      join(zstdDir, "strata.yaml"),
      `${await readFile(spec, "utf8")}\nlayers: { compression: zstd }\n`,
    );
    await writeFile(join(zstdDir, "strata.lock"), await readFile(join(specDir, "strata.lock")));
    log(`build: .debs cached with zstd layers x${N.buildDebs}`);
    const zstdSpec = join(zstdDir, "strata.yaml");
    zstdCached = (
      await interleave(N.buildDebs, [
        {
          before: async () => {
            await rm(join(cache, "layers"), { recursive: true, force: true });
            await rm(join(cache, "blobs"), { recursive: true, force: true });
          },
          body: async () =>
            (
              await strata(["--cache-dir", cache, "build", zstdSpec, "-o", out, "--force"])
            ).seconds,
        },
      ])
    )[0];
  }
  const tarBytes = (
    await mapLimit(debs, 2, async (d) =>
      Number((await sh(`ar p '${d.path}' '${d.member}' | ${decompressor(d.member)} | wc -c`)).stdout.trim()),
    )
  ).reduce((a, b) => a + b, 0);
  parts[0] = parts[0].replace(/ of \.debs\)$/, ` of .debs, ${mb(tarBytes)} of tar)`);
  const peerCached = cachedSamples[cachedSamples.length - 2];
  const floorGzip1 = cachedSamples[cachedSamples.length - 1];

  let warm: Sample | undefined;
  let warmNoSbom: Sample | undefined;
  if (canBuild && !buildError) {
    // SBOMs are attached by default; the same warm build without them shows what they cost.
    // The zstd row removed the gzip layers: one untimed build makes them again, so every timed run is warm.
    await strata(["--cache-dir", cache, "build", spec, "-o", out, "--force"]);
    log(`build: warm, with SBOMs and VEX (the default) and without, interleaved x${N.buildWarm}`);
    [warm, warmNoSbom] = await interleave(N.buildWarm, [
      buildArm(),
      buildArm(undefined, ["--no-sbom", "--no-vex"]),
    ]);
    if (buildError) [warm, warmNoSbom] = [undefined, undefined];
    else {
      const { images } = await layoutImages(out);
      layers = images[0]?.layers.length ?? 0;
      size = images[0] ? imageSize(images[0]) : 0;
    }
  }

  log(`floor: decompress only and + gzip -6, x${N.floor} each`);
  const [floorDecompress, floorGzip6] = await interleave(N.floor, [
    { body: () => floorRun(debs) },
    { body: () => floorRun(debs, 6) },
  ]);
  const { images: peerImages } = await layoutImages(join(work, "peer-layout"));
  const peerSize = peerImages[0] ? imageSize(peerImages[0]) : 0;
  await rm(join(work, "peer-root"), { recursive: true, force: true });

  const floor = floorGzip1.median;
  const dash = "–";
  const rows: string[][] = [
    [
      "strata build, cold (empty cache: download, verify, layers)",
      cold ? timing(cold) : dash,
      cold ? ratio(cold.median, peerCold.median) : dash,
      cold ? `≤ 0.5× peer cold: ${verdict(cold.median <= 0.5 * peerCold.median)}` : dash,
    ],
    [
      "strata build, .debs cached (no layers/blobs)",
      debsCached ? timing(debsCached) : dash,
      debsCached ? ratio(debsCached.median, peerCached.median) : dash,
      debsCached ? `≤ 1.3× floor (${secs(floor)}): ${verdict(debsCached.median <= 1.3 * floor)}` : dash,
    ],
    [
      "strata build, .debs cached, zstd layers (`layers: { compression: zstd }`)",
      zstdCached ? timing(zstdCached) : dash,
      zstdCached ? ratio(zstdCached.median, peerCached.median) : dash,
      zstdCached ? `${(zstdCached.median / floor).toFixed(2)}× the gzip -1 floor` : dash,
    ],
    [
      "strata build, warm (everything cached; SBOMs and VEX attached, the default)",
      warm ? timing(warm) : dash,
      warm ? ratio(warm.median, peerCached.median) : dash,
      warm ? `≤ 0.2 s: ${verdict(warm.median <= 0.2)}` : dash,
    ],
    [
      "strata build, warm, --no-sbom --no-vex",
      warmNoSbom ? timing(warmNoSbom) : dash,
      warmNoSbom ? ratio(warmNoSbom.median, peerCached.median) : dash,
      warm && warmNoSbom
        ? `SBOMs + VEX cost ${secs(warm.median - warmNoSbom.median)} (target: does not move)`
        : dash,
    ],
    ["for scale: `strata --version` (node start + CLI load)", timing(startup), "", ""],
    [
      `peer, cold: mmdebstrap --variant=extract (${peerDebs} .debs: apt adds dpkg & co.) + umoci insert`,
      timing(peerCold),
      "1.00×",
      peerParts(peerColdRuns),
    ],
    [
      "peer, .debs cached (sync-in of its archives; still runs apt-get update)",
      timing(peerCached),
      ratio(peerCached.median, peerCold.median),
      peerParts(peerCachedRuns),
    ],
    [
      `floor here: xz -dc of ${debs.length} data.tar, 2 workers`,
      timing(floorDecompress),
      "",
      `design §6 (50 .debs, 119 MB of tar): ${secs(DESIGN_FLOORS.decompress)}`,
    ],
    [
      "floor here: xz -dc + gzip -1, 2 workers",
      timing(floorGzip1),
      "",
      `design §6: ${secs(DESIGN_FLOORS.gzip1)}`,
    ],
    [
      "floor here: xz -dc + gzip -6, 2 workers",
      timing(floorGzip6),
      "",
      `design §6: ${secs(DESIGN_FLOORS.gzip6)}`,
    ],
  ];
  parts.push(table(["what", "time (median, N, min–max)", "vs peer", "target / note"], rows));
  parts.push("");
  const sizes = [`peer image (one layer, ${peerDebs} packages, docs kept): ${mb(peerSize)}`];
  if (size > 0) sizes.unshift(`strata image: ${layers} layers, ${mb(size)}`);
  parts.push(`Image sizes: ${sizes.join("; ")}.`);
  if (buildError) parts.push("", "_strata build not measured:_", "", "```", buildError, "```");
  else if (canBuild) {
    log("build: one cold build profiled (where the CPU goes)");
    parts.push("", buildProfileMarkdown(await profileColdBuild(spec), tarBytes));
  }
  return parts.join("\n");
}

// ---------------------------------------------------------------------------------------------
// 3. Registry corpus
// ---------------------------------------------------------------------------------------------

interface CorpusImage {
  name: string;
  dir: string;
  out: string;
  images: LayoutImage[];
  indexBytes: number;
  packages: LockedPackage[];
  buildSeconds: number;
  pushSeconds: number;
  flatBytes: number;
}

async function corpusSpecs(work: string): Promise<Array<{ name: string; dir: string; origin: string }>> {
  const specs: Array<{ name: string; dir: string; origin: string }> = [];
  const examples = join(ROOT, "examples");
  const names = existsSync(examples) ? (await readdir(examples)).sort() : [];
  for (const name of names) {
    if (!existsSync(join(examples, name, "strata.yaml"))) continue;
    const dir = join(work, "corpus", name);
    // A copy, so relative `source:` paths still resolve and the lock is written beside the copy.
    await cp(join(examples, name), dir, { recursive: true });
    await rm(join(dir, "strata.lock"), { force: true });
    specs.push({ name, dir, origin: `examples/${name}` });
  }
  for (const [name, packages] of EXTRA_SPECS) {
    if (specs.length >= CORPUS_MIN) break;
    if (specs.some((s) => s.name === name)) continue;
    const dir = join(work, "corpus", name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "strata.yaml"), `archs: [amd64]\npackages: [${packages.join(", ")}]\n`);
    specs.push({ name, dir, origin: `temp spec: ${packages.join(", ")}` });
  }
  return specs;
}

/** OCI platform architecture to Debian's, for the arches strata builds. */
function debianArch(oci: string): string {
  return { "386": "i386", arm: "armhf", ppc64le: "ppc64el" }[oci] ?? oci;
}

/**
 * The identity of a layer for "distinct packages": the .debs it holds (name=version and the .deb's
 * own architecture, so an `all` package is one thing in every image and arch), or, for a layer
 * that holds no package (base, files), its digest.
 */
function layerKey(layer: LayoutImage["layers"][number], image: LayoutImage, lock: LockedPackage[]): string {
  const list = layer.annotations?.["dev.strata.packages"];
  if (!list) return `digest:${layer.digest}`;
  const arch = debianArch(image.architecture);
  const members = list
    .split(" ")
    .filter((m) => m.length > 0)
    .map((m) => {
      const eq = m.indexOf("=");
      const name = m.slice(0, eq);
      const version = m.slice(eq + 1);
      const entry = lock.find((p) => p.name === name && p.version === version && p.arch === arch);
      return `${m}:${entry?.architecture === "all" ? "all" : arch}`;
    })
    .sort();
  return `packages:${members.join(" ")}`;
}

/** One image as a Dockerfile build makes it: its filesystem flattened into a single layer. */
async function flatten(
  work: string,
  item: CorpusImage,
  image: LayoutImage,
  registryHost: string,
): Promise<number> {
  const tag = `${item.name}-${image.architecture}`;
  const view = join(work, "flat", `${tag}-view`);
  const bundle = join(work, "flat", `${tag}-bundle`);
  const layout = join(work, "flat", `${tag}-layout`);
  await fresh(view);
  await copyFile(join(item.out, "oci-layout"), join(view, "oci-layout"));
  await symlink(join(item.out, "blobs"), join(view, "blobs"));
  const entry = { ...image.manifest, annotations: { "org.opencontainers.image.ref.name": "src" } };
  await writeFile(join(view, "index.json"), JSON.stringify({ schemaVersion: 2, manifests: [entry] }));
  await run("umoci", ["unpack", "--image", `${view}:src`, bundle]);
  await run("umoci", ["init", "--layout", layout]);
  await run("umoci", ["new", "--image", `${layout}:flat`]);
  await run("umoci", [
    "config",
    "--image",
    `${layout}:flat`,
    "--architecture",
    image.architecture,
    "--os",
    "linux",
  ]);
  await run("umoci", ["insert", "--image", `${layout}:flat`, join(bundle, "rootfs"), "/"]);
  await run("skopeo", [
    "copy",
    "--quiet",
    "--dest-tls-verify=false",
    `oci:${layout}:flat`,
    `docker://${registryHost}/flat/${item.name}:${image.architecture}`,
  ]);
  const { images } = await layoutImages(layout);
  const flat = images.find((i) => i.manifest.annotations?.["org.opencontainers.image.ref.name"] === "flat");
  const bytes = flat ? imageSize(flat) : 0;
  await rm(bundle, { recursive: true, force: true });
  return bytes;
}

async function benchCorpus(
  work: string,
  cache: string,
  cleanups: Array<() => Promise<void>>,
): Promise<string> {
  for (const cmd of ["build", "push"]) {
    if (!(await hasCommand(cmd))) throw new Error(`\`strata ${cmd}\` is not in the CLI yet`);
  }
  const specs = await corpusSpecs(work);
  const registry = await startRegistry();
  cleanups.push(() => registry.close());
  const items: CorpusImage[] = [];
  const failed: string[] = [];
  for (const s of specs) {
    log(`corpus: ${s.name}: lock, build, push`);
    const spec = join(s.dir, "strata.yaml");
    const out = join(work, "corpus-out", s.name);
    try {
      await strata(["--cache-dir", cache, "lock", spec]);
      const built = await strata(["--cache-dir", cache, "build", spec, "-o", out, "--force"]);
      const pushed = await strata(["push", out, `${registry.host}/bench/${s.name}:latest`]);
      const { images, indexBytes } = await layoutImages(out);
      items.push({
        name: s.name,
        dir: s.dir,
        out,
        images,
        indexBytes,
        packages: await readLockPackages(s.dir),
        buildSeconds: built.seconds,
        pushSeconds: pushed.seconds,
        flatBytes: 0,
      });
    } catch (err) {
      const message = redact(err instanceof Error ? err.message : String(err));
      log(`corpus: ${s.name}: failed: ${message}`);
      failed.push(
        `${s.name} (${s.origin}): ${
          message
            .split("\n")
            .filter((l) => l.trim())
            .slice(-1)[0] ?? ""
        }`,
      );
    }
  }
  if (items.length === 0) throw new Error(`no image of the corpus could be built:\n${failed.join("\n")}`);
  const stored = await registryBlobBytes(registry.storageDir);

  // What the corpus is made of.
  let sumImages = 0;
  let platformImages = 0;
  let totalLayers = 0;
  const byKey = new Map<string, { size: number; digests: Set<string>; packageLayer: boolean }>();
  const byDigest = new Map<string, number>();
  for (const item of items) {
    for (const image of item.images) {
      platformImages++;
      sumImages += imageSize(image);
      totalLayers += image.layers.length;
      for (const layer of image.layers) {
        byDigest.set(layer.digest, layer.size);
        const key = layerKey(layer, image, item.packages);
        const known = byKey.get(key);
        if (known) {
          known.digests.add(layer.digest);
          known.size = Math.min(known.size, layer.size);
        } else {
          byKey.set(key, {
            size: layer.size,
            digests: new Set([layer.digest]),
            packageLayer: key.startsWith("packages:"),
          });
        }
      }
    }
  }
  const distinct = [...byKey.values()].reduce((s, v) => s + v.size, 0);
  const distinctPackageLayers = [...byKey.values()].filter((v) => v.packageLayer);
  const splitPackages = distinctPackageLayers.filter((v) => v.digests.size > 1).length;
  const distinctDigestBytes = [...byDigest.values()].reduce((s, v) => s + v, 0);

  // The same images as one layer each, in a registry of their own.
  const flatRegistry = await startRegistry();
  cleanups.push(() => flatRegistry.close());
  for (const item of items) {
    log(`corpus: ${item.name}: one-layer copy`);
    const sizes = await mapLimit(item.images, 1, (image) => flatten(work, item, image, flatRegistry.host));
    item.flatBytes = sizes.reduce((s, v) => s + v, 0);
  }
  const flatStored = await registryBlobBytes(flatRegistry.storageDir);
  const sumFlat = items.reduce((s, i) => s + i.flatBytes, 0);

  const perImage = table(
    [
      "image",
      "from",
      "archs",
      "packages",
      "layers",
      "size (config + layers)",
      "one-layer size",
      "build / push",
    ],
    items.map((i) => {
      const origin = specs.find((s) => s.name === i.name)?.origin ?? "";
      return [
        i.name,
        origin,
        i.images.map((im) => im.architecture).join(", "),
        String(i.packages.length),
        i.images.map((im) => String(im.layers.length)).join(" / "),
        mb(i.images.reduce((s, im) => s + imageSize(im), 0)),
        mb(i.flatBytes),
        `${secs(i.buildSeconds)} / ${secs(i.pushSeconds)}`,
      ];
    }),
  );
  const target = stored.bytes <= 1.15 * distinct;
  const summary = table(
    ["measure", "bytes", "note"],
    [
      [
        `sum of image sizes (${platformImages} platform images of ${items.length} specs)`,
        mb(sumImages),
        `${totalLayers} layers in all`,
      ],
      [
        "distinct packages' bytes",
        mb(distinct),
        `${distinctPackageLayers.length} distinct package layers + ${byKey.size - distinctPackageLayers.length} other layers; ${splitPackages} package(s) with more than one digest across images`,
      ],
      ["distinct layer digests' bytes", mb(distinctDigestBytes), `${byDigest.size} distinct layers`],
      [
        "**strata corpus: stored in the registry**",
        mb(stored.bytes),
        `${stored.blobs} blobs; ${ratio(stored.bytes, distinct)} distinct packages (target ≤ 1.15×: ${verdict(target)}); ${ratio(stored.bytes, sumImages)} the sum of images`,
      ],
      [
        "one layer per image (flattened, umoci): sum of sizes",
        mb(sumFlat),
        "what a `FROM scratch` + one-layer Dockerfile build pushes",
      ],
      [
        "**one layer per image: stored in the registry**",
        mb(flatStored.bytes),
        `${flatStored.blobs} blobs; strata stores ${ratio(stored.bytes, flatStored.bytes)} of it`,
      ],
    ],
  );
  return [
    `### 3. Registry corpus — ${items.length} images pushed to a local docker-registry (filesystem storage)`,
    "",
    perImage,
    "",
    summary,
    ...(failed.length > 0
      ? [
          "",
          `_Left out of the corpus (${failed.length}), so it is smaller than asked:_`,
          "",
          ...failed.map((f) => `- ${f}`),
        ]
      : []),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// 4. Effects parity
// ---------------------------------------------------------------------------------------------

/** How many missing paths a row names before it says "and N more". */
const MISSING_SHOWN = 6;

async function benchEffects(work: string, cache: string): Promise<string> {
  const results: ParityResult[] = [];
  const failed: string[] = [];
  for (const set of PARITY_SETS) {
    log(`effects parity: ${set.name}: strata lock + build, mmdebstrap reference (cached per lock)`);
    try {
      results.push(
        await measureParity(set, {
          work: join(work, "parity"),
          strata: (args) => strata(["--cache-dir", cache, ...args]),
        }),
      );
    } catch (err) {
      failed.push(`${set.name}: ${redact(err instanceof Error ? err.message : String(err)).split("\n")[0]}`);
    }
  }
  const missingCell = (r: ParityResult) => {
    const shown = r.missing.slice(0, MISSING_SHOWN).map((m) => `\`/${m.path}\``);
    const more = r.missing.length - shown.length;
    return [String(r.missing.length), ...shown, ...(more > 0 ? [`and ${more} more`] : [])].join(" ");
  };
  const rows = results.map((r) => [
    r.name,
    String(r.effects),
    String(r.made.length),
    String(r.skipped.length),
    missingCell(r),
  ]);
  const skew = results.flatMap((r) => r.skew);
  return [
    "### 4. Effects parity — what dpkg's maintainer scripts make, and how much of it strata's image holds",
    "",
    table(
      ["package set (amd64)", "effects dpkg made", "strata makes", "skipped on purpose", "missing"],
      rows,
    ),
    ...(skew.length > 0 ? ["", `_Version skew between the lock and mmdebstrap: ${skew.join("; ")}._`] : []),
    ...(failed.length > 0 ? ["", "_Not measured:_", "", ...failed.map((f) => `- ${f}`)] : []),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// 5. Layer memory
// ---------------------------------------------------------------------------------------------

/** Files of 1 MiB of zeros in the bomb: 2 GiB of tar from about 2 MB of .deb. */
const BOMB_FILES = 2048;
/** The per-worker bound the README documents (what strata holds plus a decompressor's window). */
const WORKER_BOUND_MIB = 450;

interface LayerMemory {
  deb: string;
  outcome: string;
  seconds: number;
  peakRssMiB: number;
  rssBeforeMiB: number;
}

async function layerMemory(args: string[]): Promise<LayerMemory> {
  const r = await run(
    process.execPath,
    ["--import", "tsx", join(ROOT, "bench", "layer-memory.ts"), ...args],
    {
      cwd: ROOT,
    },
  );
  return JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as LayerMemory;
}

async function benchLayerMemory(work: string, cache: string): Promise<string> {
  const debsDir = join(cache, "debs", "sha256");
  const sizes = await Promise.all(
    (await readdir(debsDir)).map(async (f) => ({ f, size: (await stat(join(debsDir, f))).size })),
  );
  const biggest = sizes.sort((a, b) => b.size - a.size)[0];
  const dir = join(work, "layer-memory");
  await mkdir(dir, { recursive: true });
  const real = join(dir, "biggest.deb");
  await copyFile(join(debsDir, biggest.f), real);
  log(`layer memory: the biggest .deb of the build (${mb(biggest.size)}) and a ${BOMB_FILES} MiB gzip bomb`);
  const bombPath = (
    await run(
      process.execPath,
      ["--import", "tsx", join(ROOT, "bench", "layer-memory.ts"), join(dir, "bomb.deb"), String(BOMB_FILES)],
      { cwd: ROOT },
    )
  ).stdout.trim();
  const rows = [await layerMemory([real]), await layerMemory([bombPath])].map((m) => [
    `\`${m.deb}\``,
    m.outcome.length > 90 ? `${m.outcome.slice(0, 90)}…` : m.outcome,
    `${m.peakRssMiB} MiB`,
    `${m.peakRssMiB - m.rssBeforeMiB} MiB`,
    secs(m.seconds),
  ]);
  return [
    "### 5. Layer memory — one layer build, as a worker makes it (`bench/layer-memory.ts`)",
    "",
    table(["input", "outcome", "peak RSS", "above the loaded process", "time"], rows),
    "",
    `_Documented bound per worker: about ${WORKER_BOUND_MIB} MiB in the worst case (32 MiB of bodies, 32 MiB of control, entry records, a decompressor's window); a build's peak is the main process plus jobs (at most 4) times that._`,
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------

async function machine(): Promise<string> {
  const commit = (
    await run("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, allowFail: true })
  ).stdout.trim();
  const dirty =
    (await run("git", ["status", "--porcelain"], { cwd: ROOT, allowFail: true })).stdout.trim() !== "";
  const versions = await Promise.all(
    [
      ["mmdebstrap", "--version"],
      ["umoci", "--version"],
      ["apt-get", "--version"],
    ].map(async ([cmd, arg]) => (await run(cmd, [arg], { allowFail: true })).stdout.split("\n")[0].trim()),
  );
  return [
    `Machine: ${cpus().length} cores (${cpus()[0]?.model.trim() ?? "?"}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB memory, Node ${process.version}; ` +
      `${versions.join(", ")}. Commit ${commit}${dirty ? " (+ uncommitted changes)" : ""}, ${new Date().toISOString().slice(0, 16)}Z.`,
    "Times are wall-clock medians of N runs of the command as a user runs it (`node bin/strata.js ...`, process start included).",
  ].join("\n");
}

interface SectionContext {
  work: string;
  cleanups: Array<() => Promise<void>>;
  /** The python3 spec's directory, locked (by section 1, or on first use when it did not run). */
  lockedSpec: () => Promise<string>;
}

/** The bench's sections in order: `npm run bench -- NAME...` runs only those named. */
const SECTIONS: { name: string; title: string; run: (ctx: SectionContext) => Promise<string> }[] = [
  { name: "lock", title: "1. Lock", run: (c) => benchLockSection(c) },
  { name: "build", title: "2. Build", run: async (c) => benchBuild(c.work, await c.lockedSpec()) },
  { name: "corpus", title: "3. Registry corpus", run: (c) => benchCorpus(c.work, cacheOf(c), c.cleanups) },
  { name: "effects", title: "4. Effects parity", run: (c) => benchEffects(c.work, cacheOf(c)) },
  { name: "memory", title: "5. Layer memory", run: (c) => benchLayerMemory(c.work, cacheOf(c)) },
  {
    name: "reuse",
    title: "6. Reuse",
    run: async (c) => benchReuse(c.work, await c.lockedSpec(), c.cleanups, QUICK),
  },
  { name: "update", title: "7. Update", run: (c) => benchUpdate(c.work, cacheOf(c), c.cleanups) },
  {
    name: "sbom",
    title: "8. SBOM",
    run: async (c) => benchSbom(c.work, await c.lockedSpec(), cacheOf(c), QUICK ? 1 : 5),
  },
  { name: "fleet", title: "9. Fleet index", run: (c) => benchFleet(c.work) },
  { name: "vuln", title: "10. Vulnerabilities", run: (c) => benchVuln(c.work) },
  { name: "webhook", title: "10a. Webhook, open loop", run: (c) => benchWebhookOpenLoop(c.work) },
  {
    name: "signatures",
    title: "10b. Webhook with signatures required",
    run: (c) => benchSignedWebhook(c.work),
  },
  { name: "serve", title: "11. Page API and strata ps", run: (c) => benchServe(c.work) },
  { name: "run", title: "12. strata run", run: (c) => benchJobs(c.work, cacheOf(c), QUICK ? 1 : 5) },
];

const cacheOf = (c: SectionContext) => join(c.work, "build-cache");

async function benchLockSection(c: SectionContext): Promise<string> {
  const specDir = await writtenSpec(c.work);
  const lock = await benchLock(c.work, specDir);
  await rm(lock.lockCache, { recursive: true, force: true });
  return lock.md;
}

async function writtenSpec(work: string): Promise<string> {
  const specDir = join(work, "python3");
  await mkdir(specDir, { recursive: true });
  await writeFile(join(specDir, "strata.yaml"), PYTHON3_SPEC);
  return specDir;
}

/** The sections `names` asks for, in the bench's order; an unknown name is an error that lists them. */
function chosenSections(names: string[]): typeof SECTIONS {
  const unknown = names.filter((n) => !SECTIONS.some((s) => s.name === n));
  if (unknown.length > 0) {
    throw new Error(
      `unknown section(s) ${unknown.join(", ")}; sections: ${SECTIONS.map((s) => s.name).join(", ")}`,
    );
  }
  return names.length === 0 ? SECTIONS : SECTIONS.filter((s) => names.includes(s.name));
}

const load = () => loadavg()[0].toFixed(2);

/**
 * With BENCH_QUIET=1, waits (up to 3 minutes) for the 1-minute load average to fall under 0.5
 * before a section, so that no section starts in the previous one's wake.
 */
async function quietMachine(): Promise<void> {
  if (process.env.BENCH_QUIET !== "1") return;
  const until = Date.now() + 180_000;
  while (loadavg()[0] >= 0.5 && Date.now() < until) await new Promise((r) => setTimeout(r, 5_000));
}

async function runSections(chosen: typeof SECTIONS, ctx: SectionContext, sections: string[]): Promise<void> {
  for (const section of chosen) {
    await quietMachine();
    const before = load();
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    try {
      sections.push("", await section.run(ctx));
    } catch (err) {
      sections.push("", notMeasured(section.title, err));
    }
    const used = process.cpuUsage(cpu);
    sections.push(
      "",
      `_${section.title}: load average (1 min) ${before} before, ${load()} after; ${secs((performance.now() - t0) / 1000)} wall, the bench process's own CPU ${secs((used.user + used.system) / 1e6)} (commands it ran are timed in the rows)._`,
    );
  }
}

async function main(): Promise<number> {
  const started = performance.now();
  const chosen = chosenSections(process.argv.slice(2));
  const work = await mkdtemp(join(tmpdir(), "strata-bench-"));
  const cleanups: Array<() => Promise<void>> = [];
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    if (process.env.BENCH_KEEP === "1") log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true }).catch(() => undefined);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      killChildren();
      void cleanup().finally(() => process.exit(130));
    });
  }

  const sections: string[] = [];
  const startLoad = load();
  let locked: Promise<string> | undefined;
  const lockedSpec = () => {
    locked ??= writtenSpec(work).then(async (specDir) => {
      if (!existsSync(join(specDir, "strata.lock"))) await strata(["lock", `${specDir}/strata.yaml`]);
      return specDir;
    });
    return locked;
  };
  try {
    log("npm run build");
    const built = await run("npm", ["run", "build"], { cwd: ROOT, allowFail: true });
    const notes: string[] = [];
    if (built.code !== 0) {
      const errors = built.stdout.split("\n").filter((l) => l.includes("error TS"));
      notes.push(
        `_Note: \`npm run build\` reported ${errors.length} type error(s) (others' work in progress); dist/ as emitted was used._`,
      );
      log(`npm run build failed (${errors.length} type errors); going on with what tsc emitted`);
    }
    sections.push("## strata benchmarks", "", await machine(), ...(notes.length ? ["", ...notes] : []));
    await runSections(chosen, { work, cleanups, lockedSpec }, sections);
    sections.push(
      "",
      `_Whole bench: ${secs((performance.now() - started) / 1000)}. Load average (1 min) at the start ${startLoad}, at the end ${load()}: ` +
        "other work on this 2-core machine widens the ranges; paired rows were run interleaved (A B A B ...) so their ratios stay fair._",
    );
  } finally {
    await cleanup();
  }
  const report = `${sections.join("\n")}\n`;
  process.stdout.write(report);
  await mkdir(join(ROOT, ".bench"), { recursive: true });
  const file = chosen === SECTIONS ? "results.md" : `results-${chosen.map((s) => s.name).join("-")}.md`;
  await writeFile(join(ROOT, ".bench", file), report);
  log(`report written to .bench/${file}`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(
      `bench: ${redact(err instanceof Error ? (err.stack ?? err.message) : String(err))}\n`,
    );
    process.exitCode = 1;
  },
);
