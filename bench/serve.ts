import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { FleetIndex } from "../src/fleet/fleet-index.js";
import { imageDescriptor } from "../src/oci/image.js";
import { FleetView } from "../src/serve/fleet-view.js";
import { parseListen } from "../src/serve/listen.js";
import { buildServer } from "../src/serve/server.js";
import { Vulnerabilities } from "../src/serve/vulnerabilities.js";
import { strataImage, type TestPackage } from "../test/helpers/fleet-images.js";
import { storeTrackerFixture } from "../test/helpers/page-fleet.js";
import { table } from "./format.js";
import { ROOT, STRATA_BIN } from "./proc.js";

/**
 * 11. The page's API and `strata ps` over a generated SQLite fleet: IMAGES strata-like images from
 * a few dozen package versions (so layers are shared as in a real fleet), the tracker fixture's
 * advisories stored. Each API call (a page of its list, with the total) is timed in-process through
 * fastify's inject (no socket), after the fleet summary was computed once; that computation, done
 * once per change of the index, is timed on its own. `strata ps --pods` for CONTAINERS running
 * containers is timed as a whole command.
 */

/** BENCH_SERVE_IMAGES: a smaller fleet, to check the bench itself runs (its figures then mean nothing). */
const IMAGES = Number(process.env.BENCH_SERVE_IMAGES) || 10_000;
/** Images stored a transaction while generating: one commit per image would dominate. */
const BATCH = 500;
const CONTAINERS = 200;
const RUNS = 20;

const BASE: TestPackage[] = [
  { name: "base-files", version: "12.4+deb12u5" },
  { name: "libc6", version: "2.36-9+deb12u4", source: "glibc" },
];
const VARYING: TestPackage[][] = [
  ["7.88.1-10+deb12u5", "7.88.1-10+deb12u12"].map((v) => ({ name: "libcurl4", version: v, source: "curl" })),
  ["3.0.11-1~deb12u2", "3.0.15-1~deb12u1", "3.0.17-1~deb12u3"].map((v) => ({
    name: "libssl3",
    version: v,
    source: "openssl",
  })),
  ["1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1"].map((v) => ({ name: "zlib1g", version: v, source: "zlib" })),
];

function packagesOf(i: number): TestPackage[] {
  const own = { name: `app${i % 97}`, version: `1.${Math.floor(i / 97)}` };
  return [...BASE, ...VARYING.map((choices, k) => choices[(i >> k) % choices.length]), own];
}

async function generate(location: string): Promise<string[]> {
  const index = await FleetIndex.open(location);
  const digests: string[] = [];
  for (let start = 0; start < IMAGES; start += BATCH) {
    const batch = [];
    for (let i = start; i < Math.min(IMAGES, start + BATCH); i++) {
      const { image } = await strataImage(packagesOf(i), { label: `bench-${i}` });
      const digest = imageDescriptor(image).digest;
      const ref = { registry: "bench.test", repository: `team/app${i % 97}`, tag: `${i}`, topDigest: digest };
      batch.push({ image, where: "bench", refs: [ref] });
      digests.push(digest);
    }
    await index.addMany(batch);
  }
  await storeTrackerFixture(index);
  await index.close();
  return digests;
}

function ms(values: number[], p: number): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `${sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(1)} ms`;
}

async function timedApi(location: string, digests: string[]): Promise<string[][]> {
  const index = await FleetIndex.open(location);
  const view = new FleetView(index, new Vulnerabilities(index));
  const app = await buildServer({
    view,
    pageDir: join(ROOT, "dist", "page"),
    listen: parseListen("127.0.0.1:8080"),
  });
  const relation = encodeURIComponent("libssl3 << 3.0.17-1~deb12u3");
  const middle = Math.floor(IMAGES / 2);
  const calls: [string, string][] = [
    ["fleet list, first page", "/api/fleet"],
    [`fleet list, page at ${middle}`, `/api/fleet?offset=${middle}`],
    ["search: relation, first page", `/api/search?q=${relation}`],
    ["search: relation, page of 1 (the count)", `/api/search?q=${relation}&limit=1`],
    ["search: CVE, first page", "/api/search?q=CVE-2023-45853"],
    ["image", `/api/images/${digests[7]}`],
    ["diff", `/api/images/${digests[7]}/diff?against=${digests[8]}`],
    ["vulnerable, first page", "/api/vulnerable"],
  ];
  const started = performance.now();
  await app.inject({ method: "GET", url: "/api/fleet", headers: { host: "127.0.0.1:8080" } });
  const summary = performance.now() - started;
  const rows: string[][] = [
    ["fleet summary, computed once per change of the index (first call)", ms([summary], 50), "–", "–"],
  ];
  for (const [what, url] of calls) {
    const times: number[] = [];
    let bytes = 0;
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      const res = await app.inject({ method: "GET", url, headers: { host: "127.0.0.1:8080" } });
      times.push(performance.now() - t);
      if (res.statusCode !== 200) throw new Error(`${url}: HTTP ${res.statusCode}`);
      bytes = res.rawPayload.length;
    }
    rows.push([what, ms(times, 50), ms(times, 99), `${(bytes / 1e3).toFixed(0)} kB`]);
  }
  await app.close();
  await index.close();
  return rows;
}

async function timedPs(work: string, location: string, digests: string[]): Promise<string[]> {
  const items = Array.from({ length: CONTAINERS }, (_, i) => ({
    metadata: { name: `pod-${i}`, namespace: "bench" },
    status: {
      containerStatuses: [
        {
          name: "app",
          image: "x",
          imageID: `docker-pullable://bench.test/app@${digests[(i * 7) % digests.length]}`,
          state: { running: {} },
        },
      ],
    },
  }));
  const file = join(work, "pods.json");
  await writeFile(file, JSON.stringify({ kind: "List", items }));
  const { execFile } = await import("node:child_process");
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await new Promise<void>((resolve, reject) =>
      execFile(
        process.execPath,
        [STRATA_BIN, "ps", "--pods", file, "--index", location, "--json"],
        { maxBuffer: 1 << 28 },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    times.push(performance.now() - t);
  }
  return [
    `strata ps --pods (${CONTAINERS} containers), whole command`,
    ms(times, 50),
    `${(Math.max(...times) / 1000).toFixed(2)} s max (N=3)`,
    "–",
  ];
}

export async function benchServe(work: string): Promise<string> {
  const location = join(work, "serve-index.db");
  const t = performance.now();
  const digests = await generate(location);
  const generated = (performance.now() - t) / 1000;
  const rows = await timedApi(location, digests);
  rows.push(await timedPs(work, location, digests));
  return [
    "### 11. Page API and strata ps",
    "",
    `${IMAGES.toLocaleString("en")} generated strata images on SQLite (${generated.toFixed(1)} s to generate and index), the tracker fixture's advisories stored; each API call N=${RUNS} in-process (fastify inject), answering a page (100 by default) with its total. Target: the fleet list's p99 < 100 ms; \`strata ps --pods\` < 0.3 s.`,
    "",
    table(["Call", "p50", "p99", "Answer"], rows),
  ].join("\n");
}
