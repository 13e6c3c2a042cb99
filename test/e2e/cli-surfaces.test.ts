import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { writeLayout } from "../../src/oci/layout.js";
import { runStrata, STRATA_BIN } from "../helpers/cli.js";
import { craftDeb, craftedControl, tempDir } from "../helpers/debs.js";
import { fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";
import { strataImage } from "../helpers/fleet-images.js";
import { serve } from "../helpers/loopback.js";
import { type PostgresServer, startPostgres } from "../helpers/postgres.js";
import { freePort, selfSignedCertificate } from "../helpers/registry.js";
import { imageArtifact } from "../helpers/synthetic-image.js";

/**
 * The commands issue 17 found untested through the real CLI: `check`, `advisories update|ls` with a
 * feed served over loopback HTTP, `scan --advisories` and `scan --fleet`, and `admission serve` over
 * real TLS on SQLite and PostgreSQL, each with its error paths. Images are synthetic strata images
 * (no mirror needed); the feed is the tracker fixture.
 */

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
const POLICY = "deny:\n  fixable: { severity: medium }\n";
const VULNERABLE_CVE = /CVE-2025-9230/;
const BASE = { name: "base-files", version: "12.4+deb12u11" };
const OLD_SSL = { name: "libssl3", version: "3.0.15-1~deb12u1", source: "openssl" };
const FIXED_SSL = { name: "libssl3", version: "3.0.17-1~deb12u3", source: "openssl" };

/** One line `strata: error: ...`, a hint, exit 1, and nothing that looks like a stack trace. */
function assertOneLineError(r: { code: number; stderr: string }, what: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^strata: error: /m);
  assert.match(r.stderr, what);
  assert.match(r.stderr, /^strata: hint: /m);
  assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
  assert.doesNotMatch(r.stderr, /internal error/);
}

let dir: string;
let feed: { url: string; close(): Promise<void>; requests: string[] };
let oldLayout: string;
let fixedLayout: string;
let policyFile: string;

before(async () => {
  dir = await tempDir("cli-surfaces");
  const tracker = await readFile(join(FIXTURES, "advisories", "tracker.json"));
  const requests: string[] = [];
  const server = await serve((req, res) => {
    requests.push(req.url ?? "");
    if (req.url === "/tracker.json") {
      res.writeHead(200, {
        "content-type": "application/json",
        "last-modified": "Mon, 01 Dec 2025 00:00:00 GMT",
      });
      res.end(tracker);
    } else if (req.url === "/garbage.json") {
      res.end("<html>not a feed</html>");
    } else {
      res.writeHead(404).end("no such feed");
    }
  });
  feed = { ...server, requests };
  oldLayout = join(dir, "old");
  fixedLayout = join(dir, "fixed");
  await writeLayout(oldLayout, imageArtifact((await strataImage([BASE, OLD_SSL])).image), { tag: "1" });
  await writeLayout(fixedLayout, imageArtifact((await strataImage([BASE, FIXED_SSL])).image), { tag: "2" });
  policyFile = join(dir, "policy.yaml");
  await writeFile(policyFile, POLICY);
});

after(() => feed?.close());

/** `strata advisories update --from FEED --index INDEX [extra...]`. */
const updateFrom = (from: string, index: string, ...extra: string[]) =>
  runStrata(["advisories", "update", "--from", from, "--index", index, ...extra]);

/** Stores the tracker feed served over HTTP in `index`. */
async function storeTrackerFeed(index: string): Promise<void> {
  const r = await updateFrom(`${feed.url}/tracker.json`, index);
  assert.equal(r.code, 0, r.stderr);
}

describe("advisories update and ls, with a feed served over HTTP", () => {
  it("stores a feed fetched from a URL with its Last-Modified date, and ls lists it", async () => {
    const index = join(dir, "feeds.db");
    const r = await updateFrom(`${feed.url}/tracker.json`, index, "--json");
    assert.equal(r.code, 0, r.stderr);
    const [stored] = JSON.parse(r.stdout).stored;
    assert.equal(stored.kind, "tracker");
    assert.ok(stored.advisories > 0);
    assert.ok(feed.requests.includes("/tracker.json"), "the feed was fetched over HTTP");
    const ls = await runStrata(["advisories", "ls", "--index", index, "--json"]);
    assert.equal(ls.code, 0, ls.stderr);
    const [listed] = JSON.parse(ls.stdout).feeds;
    assert.equal(listed.location, `${feed.url}/tracker.json`);
    assert.equal(listed.advisories, stored.advisories);
    assert.match(String(listed.date), /^2025-12-01/);
    const text = await runStrata(["advisories", "ls", "--index", index]);
    assert.match(text.stdout, /tracker\.json {2}tracker {2}2025-12-01/);
  });

  it("says no feeds are stored in an empty index", async () => {
    const r = await runStrata(["advisories", "ls", "--index", join(dir, "empty.db")]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "no feeds stored\n");
  });

  it("refuses a URL that answers 404, one that is not JSON, and a missing file, in one line each", async () => {
    const index = join(dir, "refused.db");
    const missing = await updateFrom(`${feed.url}/gone.json`, index);
    assertOneLineError(missing, /404/);
    const garbage = await updateFrom(`${feed.url}/garbage.json`, index);
    assertOneLineError(garbage, /not JSON/);
    const noFile = await runStrata([
      "advisories",
      "update",
      "--from",
      join(dir, "nope.json"),
      "--index",
      index,
    ]);
    assert.equal(noFile.code, 2, "a file that is not there is a usage error");
    assert.match(noFile.stderr, /^strata: error: .*nope\.json: no such file\nstrata: hint: /m);
    const ls = await runStrata(["advisories", "ls", "--index", index, "--json"]);
    assert.deepEqual(JSON.parse(ls.stdout).feeds, [], "nothing was stored by a failed update");
  });

  it("refuses update with neither --from nor --spec, and a --spec that does not exist", async () => {
    const none = await runStrata(["advisories", "update", "--index", join(dir, "x.db")]);
    assert.match(none.stderr, /^strata: error: advisories update needs --from FEED or --spec SPEC/m);
    assert.match(none.stderr, /^strata: hint: /m);
    assert.equal(none.code, 2, "a usage error");
    const spec = await runStrata([
      "advisories",
      "update",
      "--spec",
      join(dir, "no-spec.yaml"),
      "--index",
      join(dir, "x.db"),
    ]);
    assert.ok(spec.code === 1 || spec.code === 2, spec.stderr);
    assert.match(spec.stderr, /^strata: error: .*no-spec\.yaml/m);
    assert.doesNotMatch(spec.stderr, /^\s+at /m);
  });
});

/** The newer openssl's changelog, in debian/changelog's format, back to the indexed version. */
const NEWER_SSL_CHANGELOG = `openssl (3.0.17-1~deb12u3) bookworm-security; urgency=medium

  * CVE-2025-9230 (Out-of-bounds read & write in RFC 3211 KEK Unwrap).

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Tue, 30 Sep 2025 22:05:48 +0200

openssl (3.0.15-1~deb12u1) bookworm; urgency=high

  * Import 3.0.15

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sun, 29 Sep 2024 21:03:51 +0200
`;

describe("advisories update --spec", () => {
  it("stores the changelog evidence of a signed repository's newer .deb, which scan --fleet then reports", async () => {
    const work = await tempDir("evidence");
    const deb = await craftDeb(
      work,
      "libssl3",
      [{ name: "./usr/share/doc/libssl3/changelog.Debian.gz", body: gzipSync(NEWER_SSL_CHANGELOG) }],
      craftedControl("libssl3", FIXED_SSL.version, "amd64"),
    );
    const repo = await startFakeRepo({
      suite: "bookworm-security",
      packages: [
        {
          name: "libssl3",
          version: FIXED_SSL.version,
          fields: { Source: "openssl" },
          body: await readFile(deb.path),
        },
      ],
    });
    try {
      const spec = join(work, "strata.yaml");
      await writeFile(spec, fakeRepoSpec(repo, ["libssl3"], "", "bookworm-security"));
      const index = join(work, "index.db");
      assert.equal((await runStrata(["index", "add", oldLayout, "--index", index])).code, 0);
      const cache = ["--cache-dir", join(work, "cache")];
      const update = [...cache, "advisories", "update", "--spec", spec, "--index", index, "--json"];
      // The repository has no base-files to tell its release: its suite's codename does.
      const r = await runStrata(update);
      assert.equal(r.code, 0, r.stderr);
      const [stored] = JSON.parse(r.stdout).stored;
      assert.deepEqual([stored.kind, stored.newer, stored.advisories], ["changelog", 1, 1]);
      assert.ok((repo.hits.get(`/${deb.path.split("/").pop()}`) ?? 0) <= 1);
      const ls = await runStrata(["advisories", "ls", "--index", index]);
      assert.match(ls.stdout, /^changelogs:.*strata\.yaml {2}changelog /m);
      const scan = await runStrata(["scan", "--fleet", "--index", index, "--json"]);
      const [image] = JSON.parse(scan.stdout).images;
      const finding = image.findings.find((f: { id: string }) => f.id === "CVE-2025-9230");
      assert.equal(finding?.availableIn, "bookworm-security");
      assert.equal(finding?.updatable, true);
      assert.equal(image.coverage.covered, true, "evidence with bookworm-security covers bookworm");
    } finally {
      await repo.close();
    }
  });

  it("refuses a repository signed by a key the spec does not trust, storing nothing", async () => {
    const work = await tempDir("evidence-stranger");
    const repo = await startFakeRepo({
      suite: "bookworm-security",
      signWithStranger: true,
      packages: [{ name: "libssl3", version: FIXED_SSL.version, fields: { Source: "openssl" } }],
    });
    try {
      const spec = join(work, "strata.yaml");
      await writeFile(spec, fakeRepoSpec(repo, ["libssl3"], "", "bookworm-security"));
      const index = join(work, "index.db");
      assert.equal((await runStrata(["index", "add", oldLayout, "--index", index])).code, 0);
      const r = await runStrata([
        "--cache-dir",
        join(work, "cache"),
        "advisories",
        "update",
        "--spec",
        spec,
        "--index",
        index,
        "--release",
        "bookworm",
      ]);
      assertOneLineError(r, /signature|signed|key/i);
      const ls = await runStrata(["advisories", "ls", "--index", index, "--json"]);
      assert.deepEqual(JSON.parse(ls.stdout).feeds, []);
    } finally {
      await repo.close();
    }
  });
});

describe("scan --advisories and scan --fleet", () => {
  it("finds the feed's CVE in an image's package with --advisories URL, and none in the fixed image", async () => {
    const r = await runStrata([
      "scan",
      oldLayout,
      fixedLayout,
      "--advisories",
      `${feed.url}/tracker.json`,
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [old, fixed] = JSON.parse(r.stdout).images as { findings: { id: string; package: string }[] }[];
    assert.ok(old.findings.some((f) => VULNERABLE_CVE.test(f.id) && f.package === "libssl3"));
    assert.ok(!fixed.findings.some((f) => VULNERABLE_CVE.test(f.id)), "3.0.17-1~deb12u3 has the fix");
  });

  it("refuses an --advisories feed that cannot be read, without scanning", async () => {
    const r = await runStrata(["scan", oldLayout, "--advisories", `${feed.url}/gone.json`]);
    assertOneLineError(r, /404/);
    assert.equal(r.stdout, "");
  });

  it("scans every indexed image from the database alone, and exits 3 at --fail-on", async () => {
    const index = join(dir, "fleet.db");
    for (const layout of [oldLayout, fixedLayout])
      assert.equal((await runStrata(["index", "add", layout, "--index", index])).code, 0);
    await storeTrackerFeed(index);
    const r = await runStrata(["scan", "--fleet", "--index", index, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const images = JSON.parse(r.stdout).images as {
      findings: { id: string; package: string; version: string }[];
    }[];
    assert.equal(images.length, 2);
    const hits = images
      .flatMap((i) => i.findings)
      .filter((f) => VULNERABLE_CVE.test(f.id) && f.package === "libssl3");
    assert.deepEqual([...new Set(hits.map((f) => f.version))], [OLD_SSL.version]);
    const failing = await runStrata(["scan", "--fleet", "--index", index, "--fail-on", "fixable"]);
    assert.equal(failing.code, 3, failing.stderr);
    assert.match(failing.stderr, /findings at or above --fail-on fixable/);
  });

  it("rates OSV records by their CVSS v3.1 and v4.0 vectors, a malformed vector as unknown, and fails at --fail-on", async () => {
    const record = (id: string, score: string) => ({
      id,
      severity: [{ type: score.startsWith("CVSS:4") ? "CVSS_V4" : "CVSS_V3", score }],
      affected: [
        {
          package: { ecosystem: "Debian:12", name: "openssl" },
          ranges: [{ type: "ECOSYSTEM", events: [{ introduced: "0" }, { fixed: FIXED_SSL.version }] }],
        },
      ],
    });
    const osv = join(dir, "cvss-osv.json");
    await writeFile(
      osv,
      JSON.stringify([
        record("CVE-2026-0931", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"), // 9.8
        record("CVE-2026-0940", "CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:N/VA:N/SC:N/SI:N/SA:N"), // 8.2
        record("CVE-2026-0999", "CVSS:3.1/AV:N/AC:L/PR:N"),
      ]),
    );
    const r = await runStrata(["scan", oldLayout, "--advisories", osv, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const [image] = JSON.parse(r.stdout).images as { findings: { id: string; severity: string }[] }[];
    const severities = Object.fromEntries(image.findings.map((f) => [f.id, f.severity]));
    assert.deepEqual(severities, {
      "CVE-2026-0931": "critical",
      "CVE-2026-0940": "high",
      "CVE-2026-0999": "unknown",
    });
    const failing = await runStrata(["scan", oldLayout, "--advisories", osv, "--fail-on", "critical"]);
    assert.equal(failing.code, 3, failing.stderr);
    assert.match(failing.stdout, /CVE-2026-0931.*critical/);
  });

  it("refuses --fleet with images or feeds (usage, exit 2), and scan with nothing to scan", async () => {
    const mixed = await runStrata(["scan", "--fleet", oldLayout, "--index", join(dir, "fleet.db")]);
    assert.equal(mixed.code, 2, mixed.stderr);
    assert.match(mixed.stderr, /^strata: error: scan --fleet reads the index alone/m);
    const vex = await runStrata([
      "scan",
      "--fleet",
      "--vex",
      "team.vex.json",
      "--index",
      join(dir, "fleet.db"),
    ]);
    assert.equal(vex.code, 2, vex.stderr);
    assert.match(
      vex.stderr,
      /^strata: error: scan --fleet reads the index alone: give no images, --spec, --advisories or --vex/m,
    );
    const nothing = await runStrata(["scan"]);
    assert.equal(nothing.code, 2, nothing.stderr);
    assert.match(nothing.stderr, /^strata: error: scan needs images, or --fleet/m);
  });
});

describe("strata check", () => {
  it("passes the fixed image and fails the vulnerable one with the reason, exit 1", async () => {
    const feedFlag = ["--advisories", `${feed.url}/tracker.json`, "--policy", policyFile];
    const pass = await runStrata(["check", fixedLayout, ...feedFlag]);
    assert.equal(pass.code, 0, pass.stderr);
    assert.match(pass.stdout, /: pass$/m);
    const fail = await runStrata(["check", oldLayout, fixedLayout, ...feedFlag, "--json"]);
    assert.equal(fail.code, 1, fail.stderr);
    const { decisions } = JSON.parse(fail.stdout);
    assert.deepEqual(
      decisions.map((d: { allowed: boolean }) => d.allowed),
      [false, true],
    );
    assert.ok(decisions[0].violations.some((v: { message: string }) => VULNERABLE_CVE.test(v.message)));
    const text = await runStrata(["check", oldLayout, ...feedFlag]);
    assert.match(text.stdout, /: FAIL\n {2}denied: .*CVE-2025-9230/);
  });

  it("refuses a policy that is missing or invalid, and an image that is not there, in one line", async () => {
    const missing = await runStrata(["check", fixedLayout, "--policy", join(dir, "none.yaml")]);
    assert.ok(missing.code === 1 || missing.code === 2, missing.stderr);
    assert.match(missing.stderr, /^strata: error: .*none\.yaml/m);
    assert.doesNotMatch(missing.stderr, /^\s+at /m);
    await writeFile(join(dir, "bad-policy.yaml"), "deny:\n  fixable: { severity: apocalyptic }\n");
    const bad = await runStrata(["check", fixedLayout, "--policy", join(dir, "bad-policy.yaml")]);
    assert.ok(bad.code === 1 || bad.code === 2, bad.stderr);
    assert.match(bad.stderr, /^strata: error: .*bad-policy\.yaml/m);
    assert.doesNotMatch(bad.stderr, /^\s+at /m);
    const noImage = await runStrata(["check", join(dir, "no-layout"), "--policy", policyFile]);
    assert.equal(noImage.code, 2, noImage.stderr);
    assert.match(noImage.stderr, /^strata: error: /m);
    assert.doesNotMatch(noImage.stderr, /^\s+at /m);
  });
});

/** A running `strata admission serve`: its URL once it says it listens, and its output. */
interface Webhook {
  url: string;
  child: ChildProcess;
  output(): string;
}

/** Starts `admission serve` and waits (bounded) for its listening line. */
function startWebhook(args: string[]): Promise<Webhook> {
  const child = spawn(process.execPath, [STRATA_BIN, "admission", "serve", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`admission serve did not listen within 30 s:\n${text}`));
    }, 30_000);
    const onData = (d: Buffer) => {
      text += d;
      const m = /listening on (https:\/\/\S+) /.exec(text);
      if (!m) return;
      clearTimeout(timer);
      resolve({ url: m[1], child, output: () => text });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("close", (code) => {
      clearTimeout(timer);
      reject(new Error(`admission serve exited ${code}:\n${text}`));
    });
  });
}

async function stopWebhook(hook: Webhook): Promise<number | null> {
  const closed = new Promise<number | null>((resolve) => hook.child.on("close", resolve));
  hook.child.kill("SIGTERM");
  return closed;
}

/** The parts of an AdmissionReview answer the tests read. */
interface ReviewAnswer {
  status: number;
  body: { response: { uid: string; allowed: boolean; status?: { message: string } } };
}

function postReview(url: string, ca: string, body: string): Promise<ReviewAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/validate`,
      { method: "POST", ca, headers: { "content-type": "application/json" }, timeout: 20_000 },
      (res) => {
        let text = "";
        res.on("data", (d) => {
          text += d;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 20 s")));
    req.on("error", reject);
    req.end(body);
  });
}

async function podReview(image: string): Promise<string> {
  const text = await readFile(join(FIXTURES, "admission", "pod-review.json"), "utf8");
  return text.replaceAll('"IMAGE"', JSON.stringify(image));
}

/**
 * An index holding the vulnerable and the fixed image at registry.example/shop/web (tags 1 and 2),
 * and the feed; returns their references by digest, which the webhook decides from the index alone.
 */
async function fillIndex(location: string): Promise<string[]> {
  const index = await FleetIndex.open(location);
  const references: string[] = [];
  try {
    for (const [ssl, tag] of [
      [OLD_SSL, "1"],
      [FIXED_SSL, "2"],
    ] as const) {
      const { image } = await strataImage([BASE, ssl]);
      const topDigest = imageDescriptor(image).digest;
      await index.add(image, "test", [
        { registry: "registry.example", repository: "shop/web", tag, topDigest },
      ]);
      references.push(`registry.example/shop/web@${topDigest}`);
    }
  } finally {
    await index.close();
  }
  await storeTrackerFeed(location);
  return references;
}

describe("strata admission serve", () => {
  let pg: PostgresServer;
  let tls: { certFile: string; keyFile: string };
  let ca: string;

  before(async () => {
    [pg, tls] = await Promise.all([startPostgres(), selfSignedCertificate(dir, "webhook")]);
    ca = await readFile(tls.certFile, "utf8");
  });
  after(() => pg?.stop());

  for (const store of ["sqlite", "postgres"] as const) {
    it(`answers a real AdmissionReview over HTTPS from a ${store} index, and stops on SIGTERM`, async () => {
      const index = store === "sqlite" ? join(dir, "admission.db") : await pg.newDatabase();
      const [vulnerable, fixed] = await fillIndex(index);
      const port = await freePort();
      const hook = await startWebhook([
        ...["--policy", policyFile, "--tls-cert", tls.certFile, "--tls-key", tls.keyFile],
        ...["--listen", `127.0.0.1:${port}`, "--index", index],
      ]);
      try {
        assert.equal(hook.url, `https://127.0.0.1:${port}`);
        assert.match(hook.output(), store === "postgres" ? /index postgres:\/\// : /index .*admission\.db/);
        const denied = await postReview(hook.url, ca, await podReview(vulnerable));
        assert.equal(denied.status, 200);
        assert.equal(denied.body.response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
        assert.equal(denied.body.response.allowed, false);
        assert.match(denied.body.response.status?.message ?? "", VULNERABLE_CVE);
        const allowed = await postReview(hook.url, ca, await podReview(fixed));
        assert.equal(allowed.body.response.allowed, true, JSON.stringify(allowed.body));
      } finally {
        assert.equal(await stopWebhook(hook), 0, hook.output());
      }
    });
  }

  const serveArgs = (cert: string, key: string, port: number | string) => [
    ...["admission", "serve", "--policy", policyFile, "--tls-cert", cert, "--tls-key", key],
    ...["--listen", typeof port === "number" ? `127.0.0.1:${port}` : port, "--index", join(dir, "errors.db")],
  ];

  it("refuses a port in use or an address not of this machine in one line with a hint, exit 1 (so does the page's serve)", async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as { port: number };
    try {
      const r = await runStrata(serveArgs(tls.certFile, tls.keyFile, port));
      assertOneLineError(r, new RegExp(`127\\.0\\.0\\.1:${port}.*in use`));
      const page = await runStrata([
        "serve",
        "--listen",
        `127.0.0.1:${port}`,
        "--index",
        join(dir, "errors.db"),
      ]);
      assertOneLineError(page, new RegExp(`127\\.0\\.0\\.1:${port}.*in use`));
      // An address of no interface here (TEST-NET-1) cannot be listened on either.
      const foreign = serveArgs(tls.certFile, tls.keyFile, "192.0.2.1:8443");
      assertOneLineError(await runStrata(foreign), /cannot listen on 192\.0\.2\.1:8443 \(EADDRNOTAVAIL\)/);
    } finally {
      taken.close();
    }
  });

  it("refuses a certificate that is not PEM, a key that does not match, and an unreadable file", async () => {
    const port = await freePort();
    const notPem = join(dir, "not-pem.crt");
    await writeFile(notPem, "this is not a certificate\n");
    assertOneLineError(await runStrata(serveArgs(notPem, tls.keyFile, port)), /not-pem\.crt/);
    const other = await selfSignedCertificate(dir, "other");
    const mismatch = await runStrata(serveArgs(tls.certFile, other.keyFile, port));
    assertOneLineError(mismatch, /does not match/);
    assertOneLineError(await runStrata(serveArgs(join(dir, "absent.crt"), tls.keyFile, port)), /absent\.crt/);
    assertOneLineError(await runStrata(serveArgs(tls.certFile, dir, port)), /--tls-key .*: a directory/);
  });

  it("refuses a --listen that is not HOST:PORT and a --timeout out of range as usage errors", async () => {
    const listen = await runStrata(serveArgs(tls.certFile, tls.keyFile, "8443"));
    assert.equal(listen.code, 2, listen.stderr);
    assert.match(listen.stderr, /HOST:PORT/);
    const timeout = await runStrata([...serveArgs(tls.certFile, tls.keyFile, 1), "--timeout", "60"]);
    assert.equal(timeout.code, 2, timeout.stderr);
    assert.match(timeout.stderr, /at most 30/);
  });
});
