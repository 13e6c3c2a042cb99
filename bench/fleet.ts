/**
 * Section 9 of `npm run bench`: the fleet index. A generated fleet of 10,000 strata images shaped
 * like a real one (a few hundred distinct package sets over a shared universe of package layers,
 * most images on the newest versions, a unique files layer each) is added to the index on SQLite
 * and on a real PostgreSQL; then `strata query` by package and relation, by source and by digest,
 * in-process (p50, p99) and as the whole command. Then `index sync` of a loopback registry holding
 * 200 strata images: time and bytes read, against the bytes of their manifests and configs.
 */
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FleetIndex } from "../src/fleet/fleet-index.js";
import type { IndexStats } from "../src/fleet/lookups.js";
import { DEFAULT_LIMIT } from "../src/fleet/page.js";
import { type Image, imageDescriptor, jsonBytes } from "../src/oci/image.js";
import { pushArtifact } from "../src/oci/registry/push.js";
import { type Descriptor, type ImageConfig, type Manifest, MediaType } from "../src/oci/types.js";
import { StrataAnnotation } from "../src/record/keys.js";
import { strataBaseLayer, strataPackageLayer } from "../test/helpers/fleet-images.js";
import { layerOf } from "../test/helpers/layer-tar.js";
import { startPostgres } from "../test/helpers/postgres.js";
import { type RecordedTestPackage, withTestRecord } from "../test/helpers/record.js";
import { startRegistry } from "../test/helpers/registry.js";
import { MemoryBlobSource, type SyntheticLayer, syntheticImage } from "../test/helpers/synthetic-image.js";
import { secs, table } from "./format.js";
import { log, mapLimit, repeat, strata } from "./proc.js";

const QUICK = process.env.BENCH_QUICK === "1";
/** BENCH_FLEET_IMAGES: a smaller fleet, to check the bench itself runs (its figures then mean nothing). */
const FLEET = Number(process.env.BENCH_FLEET_IMAGES) || (QUICK ? 2000 : 10_000);
/** Containers in `strata ps --pods`'s pod list. */
const PODS = 200;
const SETS = 300;
const UNIVERSE = 400;
const QUERIES = QUICK ? 50 : 200;
const SYNC_IMAGES = 200;
const FILL_BATCH = 500;

/** A small deterministic PRNG: the same fleet every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export const sha = (text: string) => `sha256:${createHash("sha256").update(text).digest("hex")}`;

export interface UniversePackage {
  name: string;
  source: string;
  /** Oldest first; most images hold the newest. */
  versions: string[];
}

function universe(random: () => number): UniversePackage[] {
  const real: UniversePackage[] = [
    {
      name: "libssl3",
      source: "openssl",
      versions: ["3.0.11-1~deb12u2", "3.0.13-1~deb12u1", "3.0.15-1~deb12u1"],
    },
    { name: "libc6", source: "glibc", versions: ["2.36-9+deb12u4", "2.36-9+deb12u7", "2.36-9+deb12u9"] },
    { name: "zlib1g", source: "zlib", versions: ["1:1.2.13.dfsg-1"] },
    { name: "openssl", source: "openssl", versions: ["3.0.11-1~deb12u2", "3.0.15-1~deb12u1"] },
  ];
  const made = Array.from({ length: UNIVERSE - real.length }, (_, i) => {
    const source = `src${i % 250}`;
    const n = 1 + Math.floor(random() * 3);
    const versions = Array.from({ length: n }, (_, v) => `${1 + (i % 7)}.${v}.${i % 13}-${1 + v}+deb12u${v}`);
    return { name: `lib${source}-${i}`, source, versions };
  });
  return [...real, ...made];
}

interface FleetLayer {
  descriptor: Descriptor;
  diffId: string;
  /** What the image's record says the layer holds. */
  recorded: RecordedTestPackage;
}

/** A package layer as strata writes it: its descriptor, and its package as the record names it (the index reads no layer). */
function packageLayer(p: UniversePackage, version: string): FleetLayer {
  const descriptor: Descriptor = {
    mediaType: MediaType.ociLayerGzip,
    digest: sha(`layer ${p.name} ${version}`),
    size: 10_000,
    annotations: {
      [StrataAnnotation.layerKind]: "package",
      [StrataAnnotation.packages]: `${p.name}=${version}`,
    },
  };
  return {
    descriptor,
    diffId: sha(`tar ${p.name} ${version}`),
    recorded: { name: p.name, version, source: p.source },
  };
}

/** One image of the fleet: base, its set's package layers, a files layer of its own, and its record. */
function fleetImage(i: number, set: FleetLayer[]): Image {
  const kind = (k: string) => ({ [StrataAnnotation.layerKind]: k });
  const base = {
    descriptor: {
      mediaType: MediaType.ociLayerGzip,
      digest: sha("base"),
      size: 500,
      annotations: kind("base"),
    },
    diffId: sha("base tar"),
  };
  const files = {
    descriptor: {
      mediaType: MediaType.ociLayerGzip,
      digest: sha(`files ${i}`),
      size: 700,
      annotations: kind("files"),
    },
    diffId: sha(`files tar ${i}`),
  };
  const layers = [base, ...set, files];
  const config: ImageConfig = {
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
  };
  const configBytes = jsonBytes(config);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: sha(configBytes.toString()), size: configBytes.length },
    layers: layers.map((l) => l.descriptor),
  };
  const blobs = { open: async () => Promise.reject(new Error("the fleet bench reads no layer")) };
  const image = { manifest, manifestBytes: jsonBytes(manifest), config, configBytes, blobs };
  return withTestRecord(image, [undefined, ...set.map((l) => [l.recorded]), undefined]);
}

export interface Fleet {
  images: Image[];
  universe: UniversePackage[];
}

export function generateFleet(): Fleet {
  const random = lcg(8);
  const all = universe(random);
  const core = all.slice(0, 15);
  const pick = (p: UniversePackage) => {
    const r = random();
    // Most images hold the newest version; a tail lags behind, as fleets do.
    const v = r < 0.7 ? p.versions.length - 1 : Math.floor(random() * p.versions.length);
    return packageLayer(p, p.versions[v]);
  };
  const sets = Array.from({ length: SETS }, () => {
    const extra = Array.from(
      { length: 10 + Math.floor(random() * 40) },
      () => all[15 + Math.floor(random() * (all.length - 15))],
    );
    const names = [...new Set([...core, ...extra])];
    return names.map(pick);
  });
  const images = Array.from({ length: FLEET }, (_, i) => fleetImage(i, sets[Math.floor(random() * SETS)]));
  return { images, universe: all };
}

const ms = (x: number) => `${x.toFixed(1)} ms`;
const kb = (bytes: number) => `${(bytes / 1e3).toFixed(1)} kB`;

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Query texts of each kind, drawn from the fleet. */
function queries(fleet: Fleet): Record<string, string[]> {
  const random = lcg(9);
  const ops = ["<<", "<=", "=", ">=", ">>"];
  const any = <T>(list: T[]) => list[Math.floor(random() * list.length)];
  const pkg = () => {
    const p = any(fleet.universe);
    return `${p.name} ${any(ops)} ${any(p.versions)}`;
  };
  const digest = () => {
    const image = any(fleet.images);
    const kinds = [image.manifest.config.digest, any(image.config.rootfs.diff_ids.slice(1, -1))];
    return `digest:${any(kinds)}`;
  };
  const n = QUERIES;
  return {
    "package + relation": ["libssl3 << 3.0.15-1~deb12u1", ...Array.from({ length: n - 1 }, pkg)],
    source: [
      "source:openssl",
      ...Array.from({ length: n - 1 }, () => `source:${any(fleet.universe).source}`),
    ],
    digest: Array.from({ length: n }, digest),
  };
}

interface BackendResult {
  name: string;
  fill: number;
  stats: IndexStats;
  rows: string[][];
  whole: string[][];
}

interface QueryTimes {
  p50: number;
  p99: number;
  /** The same with a page of one: mostly the count of every matching image. */
  countP50: number;
  countP99: number;
  /** Matching images per query (the total), and images per answer (the page). */
  total: number;
  shown: number;
}

async function timedQueries(index: FleetIndex, list: string[]): Promise<QueryTimes> {
  for (const q of list.slice(0, 5)) await index.query(q); // warm the caches and prepared statements
  const [times, countTimes] = [[] as number[], [] as number[]];
  let [total, shown] = [0, 0];
  for (const q of list) {
    let t = performance.now();
    const page = await index.query(q); // the default page (DEFAULT_LIMIT images)
    times.push(performance.now() - t);
    [total, shown] = [total + page.total, shown + page.items.length];
    t = performance.now();
    await index.query(q, { limit: 1 });
    countTimes.push(performance.now() - t);
  }
  return {
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    countP50: percentile(countTimes, 50),
    countP99: percentile(countTimes, 99),
    total: total / list.length,
    shown: shown / list.length,
  };
}

/** A kubectl pod list of `n` running containers, each running one of the fleet's images by manifest digest. */
function podList(fleet: Fleet, n: number): string {
  const items = Array.from({ length: n }, (_, i) => {
    const image = fleet.images[(i * 37) % fleet.images.length];
    const digest = imageDescriptor(image).digest;
    return {
      metadata: { name: `app-${i}`, namespace: "bench" },
      status: {
        containerStatuses: [
          {
            name: "app",
            image: `registry.bench/app${i}:1`,
            imageID: `docker-pullable://registry.bench/app${i}@${digest}`,
            state: { running: { startedAt: "2026-12-01T10:00:00Z" } },
            ready: true,
          },
        ],
      },
    };
  });
  return JSON.stringify({ apiVersion: "v1", kind: "List", items });
}

/** The whole command, timed: median (N, min–max). */
async function wholeCommand(args: string[]): Promise<string> {
  const s = await repeat(QUICK ? 1 : 5, async () => {
    const t = performance.now();
    const result = await strata(args);
    if (result.code !== 0) throw new Error(`strata ${args.join(" ")}: ${result.stderr}`);
    return (performance.now() - t) / 1000;
  });
  return `${secs(s.median)} (N=${s.n}, ${secs(s.min)}–${secs(s.max)})`;
}

async function benchBackend(
  name: string,
  location: string,
  fleet: Fleet,
  work: string,
): Promise<BackendResult> {
  log(`fleet: adding ${fleet.images.length} images to ${name}`);
  const index = await FleetIndex.open(location);
  const started = performance.now();
  const items = fleet.images.map((image, i) => {
    const topDigest = sha(image.manifestBytes.toString());
    const refs = [{ registry: "registry.bench", repository: `team${i % 50}/app${i}`, tag: "1", topDigest }];
    return { image, where: `image ${i}`, refs };
  });
  // Through the store's own path, FILL_BATCH images a transaction: one commit per image dominated.
  for (let i = 0; i < items.length; i += FILL_BATCH) await index.addMany(items.slice(i, i + FILL_BATCH));
  const fill = (performance.now() - started) / 1000;
  const stats = await index.stats();
  log(`fleet: ${name}: ${secs(fill)}, ${JSON.stringify(stats)}`);
  const rows: string[][] = [];
  const lists = queries(fleet);
  for (const [kind, list] of Object.entries(lists)) {
    const r = await timedQueries(index, list);
    rows.push([
      name,
      kind,
      String(list.length),
      ms(r.p50),
      ms(r.p99),
      `${ms(r.countP50)} / ${ms(r.countP99)}`,
      `${r.total.toFixed(0)} / ${r.shown.toFixed(0)}`,
      r.p99 < 50 ? "met" : "**missed**",
    ]);
  }
  await index.close();
  const whole: string[][] = [];
  for (const [kind, list] of Object.entries(lists)) {
    const q = `\`${list[0].slice(0, 40)}${list[0].length > 40 ? "…" : ""}\``;
    whole.push([
      name,
      `query: ${kind}`,
      q,
      await wholeCommand(["query", list[0], "--index", location, "--json"]),
    ]);
  }
  const pods = join(work, `pods-${name}.json`);
  await writeFile(pods, podList(fleet, PODS));
  whole.push([
    name,
    "ps --pods",
    `${PODS} containers`,
    await wholeCommand(["ps", "--pods", pods, "--index", location]),
  ]);
  return { name, fill, stats, rows, whole };
}

/** 200 small strata images (real layers, JSON annotations) pushed to a loopback registry. */
async function syncFleet(host: string): Promise<{ manifestAndConfigBytes: number; layerBytes: number }> {
  const random = lcg(10);
  const pool = await Promise.all(
    Array.from({ length: 60 }, (_, i) =>
      strataPackageLayer({ name: `pkg${i}`, version: `1.${i % 5}-1`, source: `src${i % 20}` }),
    ),
  );
  const base = await strataBaseLayer();
  let manifestAndConfigBytes = 0;
  const layerBytes = new Map<string, number>();
  const indices = Array.from({ length: SYNC_IMAGES }, (_, i) => i);
  const images = indices.map(() => [
    ...new Set(
      Array.from({ length: 8 + Math.floor(random() * 12) }, () => pool[Math.floor(random() * pool.length)]),
    ),
  ]);
  await mapLimit(indices, 4, async (i) => {
    const files = await layerOf([{ path: `etc/app-${i}`, body: `${i}\n` }], {
      annotations: { [StrataAnnotation.layerKind]: "files" },
    });
    const layers: SyntheticLayer[] = [base, ...images[i], files];
    const blobs = new MemoryBlobSource();
    for (const l of layers) {
      blobs.add(l.descriptor.digest, l.bytes);
      layerBytes.set(l.descriptor.digest, l.bytes.length);
    }
    const image = syntheticImage(layers, { blobs, label: String(i) });
    manifestAndConfigBytes += image.manifestBytes.length + image.configBytes.length;
    await pushArtifact({ kind: "image", image }, `${host}/fleet/app${i % 20}:v${i}`, { knownBlobs: false });
  });
  return { manifestAndConfigBytes, layerBytes: [...layerBytes.values()].reduce((a, b) => a + b, 0) };
}

async function benchSync(locations: Array<[string, string]>): Promise<string> {
  const registry = await startRegistry();
  try {
    log(`fleet: pushing ${SYNC_IMAGES} strata images to ${registry.host}`);
    const pushed = await syncFleet(registry.host);
    const rows: string[][] = [];
    for (const [name, location] of locations) {
      for (const pass of ["first sync", "again, nothing changed"]) {
        const t = performance.now();
        const out = await strata(["index", "sync", registry.host, "--index", location, "--json", "-q"]);
        const seconds = (performance.now() - t) / 1000;
        const [report] = JSON.parse(out.stdout);
        rows.push([
          name,
          pass,
          secs(seconds),
          String(report.indexed),
          String(report.unchanged),
          kb(report.bytesRead),
        ]);
      }
    }
    return [
      `\`strata index sync\` of a loopback docker-registry holding ${SYNC_IMAGES} strata images (20 repositories, one tag each image; ` +
        `${kb(pushed.manifestAndConfigBytes)} of manifests and configs, ${kb(pushed.layerBytes)} of distinct layers), whole command:`,
      "",
      table(["index", "pass", "time", "indexed", "unchanged", "bytes read"], rows),
      "",
      "Bytes read are the registry's answers the sync consumed: the catalog and tag listings, the manifests and the configs; " +
        "no layer of a strata image is read (its JSON annotations name its packages). A sync with nothing changed reads only the listings (a HEAD per tag has no body).",
    ].join("\n");
  } finally {
    await registry.close();
  }
}

export async function benchFleet(work: string): Promise<string> {
  const fleet = generateFleet();
  const pg = await startPostgres();
  try {
    const sqlite = join(work, "fleet-index.db");
    const postgres = await pg.newDatabase();
    const results = [
      await benchBackend("SQLite", sqlite, fleet, work),
      await benchBackend("PostgreSQL", postgres, fleet, work),
    ];
    const { stats } = results[0];
    const syncMd = await benchSync([
      ["SQLite", join(work, "fleet-sync.db")],
      ["PostgreSQL", await pg.newDatabase()],
    ]);
    return [
      "### 9. Fleet index and `strata query`",
      "",
      `A generated fleet of ${fleet.images.length.toLocaleString("en")} strata images: ${SETS} distinct package sets over ${UNIVERSE} packages ` +
        `(1–3 versions each, 70% of images on the newest), 15 packages in every set, ${stats.layers} distinct layers, ` +
        `${stats.layerPackages} package rows stored by layer for ${stats.imagePackages.toLocaleString("en")} package-in-image facts. ` +
        `Filling the index (${FILL_BATCH} images a transaction, \`FleetIndex.addMany\`, each stored as \`add\` stores it): ${results.map((r) => `${r.name} ${secs(r.fill)}`).join(", ")}.`,
      "",
      `In-process \`FleetIndex.query\`, ${QUERIES} different queries of each kind (relations random over each package's versions; digests of configs and layer diff_ids), each answering its first page (${DEFAULT_LIMIT} images) with the total; "page of 1" is the same query with \`limit: 1\`, mostly the count of every matching image. Target: p99 < 50 ms.`,
      "",
      table(
        [
          "index",
          "query",
          "queries",
          "p50",
          "p99",
          "page of 1: p50 / p99",
          "images matching / shown (mean)",
          "target",
        ],
        results.flatMap((r) => r.rows),
      ),
      "",
      `The whole command (process start, opening the index, the answer): \`node bin/strata.js query Q --index … --json\` (its first page), and \`strata ps --pods\` with a pod list of ${PODS} running containers of the fleet's images. Targets: query < 0.3 s, ps < 0.3 s.`,
      "",
      table(
        ["index", "query", "Q", "time"],
        results.flatMap((r) => r.whole),
      ),
      "",
      syncMd,
    ].join("\n");
  } finally {
    await pg.stop();
  }
}
