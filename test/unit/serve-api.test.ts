import assert from "node:assert/strict";
import { cp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { FleetView } from "../../src/serve/fleet-view.js";
import { parseListen } from "../../src/serve/listen.js";
import { buildServer } from "../../src/serve/server.js";
import { Vulnerabilities } from "../../src/serve/vulnerabilities.js";
import { runStrata } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import {
  BASE_FILES,
  digestOf,
  type FleetImageSpec,
  indexPageFleet,
  storeTrackerFixture,
  TRACKER_FIXTURE,
} from "../helpers/page-fleet.js";

/** The page's JSON API over a real SQLite index, through fastify's inject (no socket). */
let app: FastifyInstance;
let index: FleetIndex;
let view: FleetView;
let dbPath: string;
let fleet: Map<string, FleetImageSpec>;

before(async () => {
  const dir = await tempDir("serve-api");
  dbPath = join(dir, "index.db");
  fleet = await indexPageFleet(dbPath);
  const pageDir = join(dir, "page");
  await cp(new URL("../../src/serve/page/", import.meta.url), pageDir, { recursive: true });
  await writeFile(join(pageDir, "app.js"), "");
  index = await FleetIndex.open(join(dir, "index.db"));
  view = new FleetView(index, new Vulnerabilities(index));
  app = await buildServer({ view, pageDir, listen: parseListen("127.0.0.1:8080") });
});
after(async () => {
  await app?.close();
  await index?.close();
});

const host = () => "127.0.0.1:8080";
async function get(url: string, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: "GET", url, headers: { host: host(), ...headers } });
  return { status: res.statusCode, body: res.json(), headers: res.headers };
}
const digest = (tag: string) => digestOf(fleet.get(tag)!);
const imageDigest = (image: Parameters<typeof imageDescriptor>[0]) => imageDescriptor(image).digest;

describe("strata serve API", () => {
  test("the fleet lists every image with its tags, shared layers and vulnerabilities by severity", async () => {
    const { status, body } = await get("/api/fleet");
    assert.equal(status, 200);
    assert.equal(body.images.length, 4);
    const old = body.images.find((i: { digest: string }) => i.digest === digest("team/api:1.0"));
    assert.deepEqual(old.refs, [{ registry: "registry.test", repository: "team/api", tag: "1.0" }]);
    assert.equal(old.platform, "linux/amd64");
    assert.equal(old.packages, 5);
    assert.equal(old.layers, 6);
    assert.equal(old.sharedLayers, 3, "base, base-files and libc6 are held by other images too");
    assert.ok(old.size > 0, "the image's compressed size");
    assert.ok(
      old.sharedBytes > 0 && old.sharedBytes < old.size,
      "the shared layers' bytes, part of the size",
    );
    assert.ok(body.bytes.shared > 0, "bytes in layers several images hold");
    assert.ok(body.bytes.stored < body.bytes.images, "shared layers are stored once");
    assert.equal(old.worst, "critical");
    assert.equal(old.vulnerabilities.critical, 1, "zlib CVE-2023-45853");
    assert.equal(old.vulnerabilities.high, 1, "openssl CVE-2025-9230");
    assert.ok(typeof old.addedAt === "number");
    assert.equal(body.advisories[0].location, TRACKER_FIXTURE);
  });

  test("search answers a version relation, a source, a CVE and a digest", async () => {
    const relation = await get(`/api/search?q=${encodeURIComponent("libcurl4 << 7.88.1-10+deb12u6")}`);
    assert.deepEqual(
      relation.body.answers.map((a: { image: { digest: string } }) => a.image.digest),
      [digest("team/api:1.0")],
    );
    const source = await get("/api/search?q=source:zlib");
    assert.equal(source.body.answers.length, 4);
    const cve = await get("/api/search?q=CVE-2023-45853");
    assert.equal(cve.body.kind, "cve");
    assert.deepEqual(cve.body.answers[0].findings[0].fixedVersion, "1:1.2.13.dfsg-1+deb12u1");
    assert.deepEqual(
      cve.body.answers.map((a: { image: { digest: string } }) => a.image.digest),
      [digest("team/api:1.0")],
    );
    const byDigest = await get(`/api/search?q=digest:${digest("team/web:2")}`);
    assert.equal(byDigest.body.answers[0].match, "manifest");
  });

  test("an image shows its layer stack with each layer's packages and its findings with the fixing version", async () => {
    const { status, body } = await get(`/api/images/${digest("team/api:1.0")}`);
    assert.equal(status, 200);
    assert.equal(body.layers.length, 6);
    assert.deepEqual(body.layers[0].packages, [], "the base layer holds no package");
    assert.deepEqual(
      body.layers.slice(1).map((l: { packages: { name: string }[] }) => l.packages.map((p) => p.name)),
      [["base-files"], ["libc6"], ["libcurl4"], ["libssl3"], ["zlib1g"]],
    );
    assert.equal(body.layers[1].images, 4 - 1, "base-files' layer is shared by the three strata images");
    assert.ok(
      body.layers.every((l: { size: number }) => l.size > 0),
      "each layer's compressed size",
    );
    const zlib = body.findings.find((f: { id: string }) => f.id === "CVE-2023-45853");
    assert.equal(zlib.severity, "critical");
    assert.equal(zlib.fixedVersion, "1:1.2.13.dfsg-1+deb12u1");
    assert.equal(body.findings[0].severity, "critical", "worst first");
  });

  test("the diff against another tag names changed, added and removed packages", async () => {
    const { body } = await get(
      `/api/images/${digest("team/api:1.1")}/diff?against=registry.test/team/api:1.0`,
    );
    assert.deepEqual(
      body.packages.changed.map((c: { name: string; a: { version: string }; b: { version: string } }) => [
        c.name,
        c.a.version,
        c.b.version,
      ]),
      [
        ["libcurl4", "7.88.1-10+deb12u5", "7.88.1-10+deb12u12"],
        ["libssl3", "3.0.11-1~deb12u2", "3.0.17-1~deb12u3"],
        ["zlib1g", "1:1.2.13.dfsg-1", "1:1.2.13.dfsg-1+deb12u1"],
      ],
    );
    assert.equal(body.packages.same, 2);
    assert.deepEqual(body.layers, { shared: 3, onlyInA: 3, onlyInB: 3 });
    const web = await get(`/api/images/${digest("team/web:2")}/diff?against=${digest("team/api:1.1")}`);
    assert.deepEqual(
      web.body.packages.added.map((p: { name: string }) => p.name),
      ["tzdata"],
    );
    assert.deepEqual(
      web.body.packages.removed.map((p: { name: string }) => p.name),
      ["libcurl4", "libssl3"],
    );
  });

  test("vulnerable images come worst first, each finding with its fix", async () => {
    const { body } = await get("/api/vulnerable");
    assert.equal(body.images[0].image.digest, digest("team/api:1.0"));
    const fixed = body.images[0].findings.filter((f: { status: string }) => f.status === "fixed");
    assert.ok(fixed.every((f: { fixedVersion?: string }) => typeof f.fixedVersion === "string"));
    const newer = body.images.find(
      (i: { image: { digest: string } }) => i.image.digest === digest("team/api:1.1"),
    );
    assert.ok(
      newer.findings.every((f: { status: string }) => f.status !== "fixed"),
      "1.1 holds every fix there is",
    );
  });

  test("runs come newest first with what their image carries now; vulnerable images list their recent runs", async () => {
    const now = Date.now();
    const run = (id: string, digest: string, startedAt: number) => ({
      id,
      name: id,
      image: "docker://registry.test/team/x:1",
      digest,
      platform: "linux/amd64",
      args: ["/bin/job"],
      user: "0:0",
      runBy: "root (0)",
      startedAt,
      endedAt: startedAt + 1000,
      exitCode: 0,
      outcome: "exited" as const,
      peakMemoryBytes: null,
    });
    await index.recordRun(run("api-nightly", digest("team/api:1.0"), now - 60_000));
    await index.recordRun(run("api-last-month", digest("team/api:1.0"), now - 30 * 24 * 3_600_000));
    await index.recordRun(run("unindexed", `sha256:${"9".repeat(64)}`, now - 30_000));
    const { body } = await get("/api/runs");
    assert.deepEqual(
      body.runs.map((r: { run: { id: string } }) => r.run.id),
      ["unindexed", "api-nightly", "api-last-month"],
    );
    assert.deepEqual([body.runs[0].indexed, body.runs[0].vulnerabilities], [false, 0]);
    assert.equal(body.runs[1].indexed, true);
    assert.equal(body.runs[1].worst, "critical");
    assert.ok(body.runs[1].vulnerabilities > 0);
    const vulnerable = (await get("/api/vulnerable")).body.images;
    const api = vulnerable.find(
      (i: { image: { digest: string } }) => i.image.digest === digest("team/api:1.0"),
    );
    assert.deepEqual(
      api.recentRuns.map((r: { id: string }) => r.id),
      ["api-nightly"],
    );
  });

  test("bad input gets 400 JSON, an unknown image 404, never a stack trace", async () => {
    for (const url of [
      "/api/search",
      "/api/search?q=",
      `/api/search?q=${"a".repeat(400)}`,
      "/api/search?q=openssl%20%3C%3C%20not-a-version",
      "/api/search?q=digest:sha256:XYZ",
      "/api/images/sha256:1234",
      "/api/images/..%2F..%2Fetc%2Fpasswd",
      `/api/images/${digest("team/api:1.0")}/diff`,
      `/api/images/${digest("team/api:1.0")}/diff?against=%00bad`,
      `/api/search?q=curl&extra=1`,
      "/api/fleet?limit=0",
      "/api/fleet?limit=1001",
      "/api/fleet?offset=-1",
      "/api/vulnerable?limit=x",
      "/api/search?q=curl&offset=1e3",
      `/api/images/${digest("team/api:1.0")}?verbose=1`,
      "/api/vulnerable?all=1",
      "/api/runs?x=1",
    ]) {
      const { status, body } = await get(url);
      assert.equal(status, 400, url);
      assert.equal(typeof body.error, "string", url);
      assert.ok((body.hint ?? "").length > 0, `${url}: a 400 says what to do next`);
      assert.doesNotMatch(JSON.stringify(body), /at .*\.ts:\d+/, url);
    }
    const missing = await get(`/api/images/sha256:${"0".repeat(64)}`);
    assert.equal(missing.status, 404);
    const missingRef = await get(`/api/images/${digest("team/api:1.0")}/diff?against=registry.test/nope:1`);
    assert.equal(missingRef.status, 404);
  });

  test("a request for another host name is refused (DNS rebinding), and pages carry a strict CSP", async () => {
    const other = await get("/api/fleet", { host: "evil.example:8080" });
    assert.equal(other.status, 421);
    const page = await app.inject({ method: "GET", url: "/", headers: { host: host() } });
    assert.equal(page.statusCode, 200);
    assert.match(page.headers["content-type"] as string, /text\/html/);
    assert.match(page.headers["content-security-policy"] as string, /default-src 'none'; script-src 'self'/);
  });
});

describe("strata serve API pages", () => {
  const digests = (images: { digest?: string; image?: { digest: string } }[]) =>
    images.map((i) => i.digest ?? i.image!.digest);

  test("the lists come a page at a time with their totals; the pages make up the whole list", async () => {
    const whole = (await get("/api/fleet")).body;
    assert.deepEqual([whole.total, whole.offset, whole.limit, whole.images.length], [4, 0, 100, 4]);
    assert.deepEqual(whole.totals, {
      images: 4,
      repositories: 3,
      vulnerable: 2,
      fixable: whole.totals.fixable,
    });
    assert.ok(whole.totals.fixable > 0);
    const pages = [];
    for (const offset of [0, 1, 2, 3, 4]) pages.push((await get(`/api/fleet?limit=1&offset=${offset}`)).body);
    assert.deepEqual(
      pages.map((p) => [p.total, p.limit, p.images.length]),
      [
        [4, 1, 1],
        [4, 1, 1],
        [4, 1, 1],
        [4, 1, 1],
        [4, 1, 0],
      ],
    );
    assert.deepEqual(
      pages.flatMap((p) => digests(p.images)),
      digests(whole.images),
    );
    const source = (await get("/api/search?q=source:zlib&limit=3&offset=2")).body;
    assert.deepEqual([source.total, source.offset, source.answers.length], [4, 2, 2]);
    const cve = (await get("/api/search?q=CVE-2023-45853&limit=1&offset=1")).body;
    assert.deepEqual([cve.kind, cve.total, cve.answers.length], ["cve", 1, 0]);
    const vulnerable = (await get("/api/vulnerable")).body;
    const second = (await get("/api/vulnerable?limit=1&offset=1")).body;
    assert.deepEqual([second.total, second.images.length], [vulnerable.total, 1]);
    assert.equal(second.images[0].image.digest, vulnerable.images[1].image.digest);
  });

  test("the fleet's summary is computed once per change of the index, whichever process changed it", async () => {
    let computed = 0;
    const scan = view.vulnerabilities.fleet.bind(view.vulnerabilities);
    view.vulnerabilities.fleet = () => {
      computed++;
      return scan();
    };
    await get("/api/fleet");
    computed = 0;
    for (const url of [
      "/api/fleet",
      "/api/fleet?offset=2",
      "/api/vulnerable",
      "/api/search?q=CVE-2023-45853",
      "/api/runs",
    ])
      assert.equal((await get(url)).status, 200, url);
    assert.equal(computed, 0, "kept while the index does not change");
    // Another connection (as `strata index add` would be) adds an image: the counter in the database moves.
    const other = await FleetIndex.open(dbPath);
    try {
      const { image } = await strataImage([BASE_FILES, { name: "newpkg", version: "1.0" }], { label: "new" });
      const ref = {
        registry: "registry.test",
        repository: "team/new",
        tag: "1",
        topDigest: imageDigest(image),
      };
      await other.add(image, "new", [ref]);
      assert.equal((await get("/api/fleet")).body.total, 5);
      assert.equal((await get("/api/vulnerable")).status, 200);
      assert.equal(computed, 1, "computed again once, for the change");
      await other.remove({ ref });
      assert.equal((await get("/api/fleet")).body.total, 4);
      assert.equal(computed, 2);
      // Advisories stored again are a change too: the findings may differ.
      await new Promise((resolve) => setTimeout(resolve, 5));
      await storeTrackerFixture(other);
      await get("/api/vulnerable");
      assert.equal(computed, 3);
    } finally {
      await other.close();
    }
  });
});

describe("strata serve --listen", () => {
  test("an address other than loopback is refused without --allow-remote, before anything listens", async () => {
    const r = await runStrata([
      "serve",
      "--listen",
      "0.0.0.0:8080",
      "--index",
      join(await tempDir("serve-cli"), "i.db"),
    ]);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^strata: error: --listen 0\.0\.0\.0:8080 is not a loopback address\nstrata: hint: .*--allow-remote/,
    );
  });

  test("loopback is told apart from other addresses, and malformed values are refused", () => {
    assert.equal(parseListen("127.0.0.1:8080").loopback, true);
    assert.equal(parseListen("[::1]:0").loopback, true);
    assert.equal(parseListen("localhost:1").loopback, true);
    assert.equal(parseListen("0.0.0.0:8080").loopback, false);
    assert.equal(parseListen("192.168.1.5:80").loopback, false);
    for (const bad of ["8080", "host:99999", ":80", "[zz]:80", "a b:80"])
      assert.throws(() => parseListen(bad), bad);
  });
});
