import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { changelogEvidence, parseChangelog } from "../../src/advisories/changelog.js";
import { cachedDebChangelog, readDebChangelog } from "../../src/advisories/deb-changelog.js";
import { readFeed } from "../../src/advisories/feed.js";
import { matchAdvisories, releaseOfPackages } from "../../src/advisories/match.js";
import { repositoryEvidence } from "../../src/advisories/repository-evidence.js";
import { parseSpec } from "../../src/spec/spec.js";
import { craftDeb, craftedControl, tempDir } from "../helpers/debs.js";
import { fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";

const FIXTURES = new URL("../fixtures/advisories/", import.meta.url).pathname;

/** A changelog in debian/changelog's real format, newest entry first, trimmed at the old end. */
const OPENSSL_CHANGELOG = `openssl (3.0.17-1~deb12u3) bookworm-security; urgency=medium

  * CVE-2025-9230 (Out-of-bounds read & write in RFC 3211 KEK Unwrap).
  * CVE-2025-9232 (Out-of-bounds read in HTTP client no_proxy handling).

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Tue, 30 Sep 2025 22:05:48 +0200

openssl (3.0.17-1~deb12u2) bookworm; urgency=medium

  * Import 3.0.17
    - CVE-2024-13176 (Timing side-channel in ECDSA signature computation)
  * Mention CVE-2025-9232 again in passing.

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sat, 02 Aug 2025 11:30:13 +0200

openssl (3.0.15-1~deb12u1) bookworm; urgency=high

  * Import 3.0.15
    - CVE-2024-5535 (SSL_select_next_proto buffer overread).

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Sun, 29 Sep 2024 21:03:51 +0200
`;

describe("advisory feeds", () => {
  it("reads the security tracker's JSON with Debian's statuses and urgencies", async () => {
    const feed = await readFeed(join(FIXTURES, "tracker.json"), (r) => r === "bookworm");
    assert.equal(feed.kind, "tracker");
    const byId = new Map(feed.advisories.map((a) => [a.id, a]));
    assert.equal(byId.size, 7);
    assert.deepEqual(byId.get("CVE-2024-2398"), {
      id: "CVE-2024-2398",
      source: "curl",
      release: "bookworm",
      status: "fixed",
      fixedVersion: "7.88.1-10+deb12u6",
      severity: "unknown",
      origin: "tracker",
    });
    assert.equal(byId.get("CVE-2025-0725")?.status, "not-affected");
    assert.equal(byId.get("CVE-2025-0725")?.severity, "negligible");
    assert.equal(byId.get("CVE-2025-9086")?.status, "open");
    assert.equal(byId.get("CVE-2025-9086")?.noDsa, "Minor issue");
    assert.equal(byId.get("CVE-2025-9232")?.status, "undetermined");
    assert.equal(byId.get("CVE-2025-9232")?.severity, "medium", "the tracker's '**' marks are dropped");
    assert.equal(byId.get("CVE-2023-45853")?.severity, "critical");
  });

  it("reads an OSV feed of 300,000 records (a whole Debian export's size) and dates it by its newest record", async () => {
    const dir = await tempDir("osv-big");
    const record = (i: number) =>
      `{"id":"DEBIAN-CVE-2024-${i}","modified":"2024-01-01T00:00:${String(i % 60).padStart(2, "0")}Z","upstream":["CVE-2024-${i}"],` +
      `"affected":[{"package":{"ecosystem":"Debian:12","name":"pkg${i % 97}"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.${i}-1"}]}]}]}`;
    const file = join(dir, "osv.json");
    await writeFile(file, `[${Array.from({ length: 300_000 }, (_, i) => record(i)).join(",")}]`);
    const feed = await readFeed(file);
    assert.equal(feed.date, "2024-01-01T00:00:59.000Z");
    assert.equal(feed.advisories.length, 300_000);
  });

  it("refuses an OSV record that multiplies N aliases by N ranges, and stores repeated ranges once", async () => {
    const dir = await tempDir("osv-square");
    const n = 3_000;
    const ranges = (count: number, distinct: boolean) =>
      Array.from({ length: count }, (_, i) => ({
        type: "ECOSYSTEM",
        events: [{ introduced: "0" }, { fixed: distinct ? `1.${i}-1` : "1.0-1" }],
      }));
    const record = (count: number, distinct: boolean) => ({
      id: "DSA-9999-1",
      aliases: Array.from({ length: count }, (_, i) => `CVE-2024-${10_000 + i}`),
      affected: [{ package: { ecosystem: "Debian:12", name: "pkg" }, ranges: ranges(count, distinct) }],
    });
    const square = join(dir, "square.json");
    await writeFile(square, JSON.stringify([record(n, true)]));
    await assert.rejects(readFeed(square), /record 0.*more than 5000 advisories/);
    const repeated = join(dir, "repeated.json");
    await writeFile(repeated, JSON.stringify([record(40, false)]));
    assert.equal((await readFeed(repeated)).advisories.length, 40, "40 ids × one distinct range");
  });

  it("reads OSV records: Debian releases only, CVE ids from upstream, introduced versions kept", async () => {
    const feed = await readFeed(join(FIXTURES, "osv.json"));
    assert.equal(feed.kind, "osv");
    assert.equal(feed.date, "2025-02-14T09:30:00.000Z", "the newest record's modified date");
    assert.deepEqual(
      feed.advisories.map((a) => [
        a.id,
        a.source,
        a.release,
        a.status,
        a.fixedVersion,
        a.introducedVersion,
        a.severity,
      ]),
      [
        ["CVE-2024-6119", "openssl", "bookworm", "fixed", "3.0.14-1~deb12u2", undefined, "unknown"],
        ["CVE-2024-6197", "curl", "bookworm", "open", undefined, "7.88.1-10+deb12u2", "high"],
      ],
    );
  });

  it("refuses a feed with a crafted version, an unknown status or no JSON, naming the place", async () => {
    const dir = await tempDir("feeds");
    const cases: [string, RegExp][] = [
      [
        `{"curl": {"CVE-1": {"releases": {"bookworm": {"status": "resolved", "fixed_version": "../../x"}}}}}`,
        /fixed version/,
      ],
      [`{"curl": {"CVE-2024-1": {"releases": {"bookworm": {"status": "maybe"}}}}}`, /unknown status/],
      [`{"../etc": {"CVE-2024-1": {"releases": {"bookworm": {"status": "open"}}}}}`, /source package/],
      [
        `[{"id": "X-1", "affected": [{"package": {"ecosystem": "Debian:12", "name": "curl"}, "ranges": [{"type": "ECOSYSTEM"}]}]}]`,
        /no events/,
      ],
      ["not json at all", /not JSON/],
    ];
    for (const [i, [text, why]] of cases.entries()) {
      const file = join(dir, `feed-${i}.json`);
      await writeFile(file, text);
      await assert.rejects(readFeed(file), (err: Error & { code?: string }) => {
        assert.equal(err.code, "INDEX_INVALID");
        assert.match(err.message, why);
        assert.ok(err.message.startsWith(file));
        return true;
      });
    }
  });
});

describe("matching advisories to installed packages", () => {
  it("matches by source package and source version, not the binary's", async () => {
    const { advisories } = await readFeed(join(FIXTURES, "tracker.json"), (r) => r === "bookworm");
    const findings = matchAdvisories(
      [
        // A binary versioned apart from its source: only the source version counts.
        { name: "libssl3", version: "9.9-1", source: "openssl", sourceVersion: "3.0.15-1~deb12u1" },
        { name: "curl", version: "7.88.1-10+deb12u5", source: "curl", sourceVersion: "7.88.1-10+deb12u5" },
        { name: "zlib1g", version: "1:1.2.13.dfsg-1", source: "zlib", sourceVersion: "1:1.2.13.dfsg-1" },
      ],
      advisories,
      new Map([
        ["curl", { version: "7.88.1-10+deb12u12", sourceVersion: "7.88.1-10+deb12u12", suite: "bookworm" }],
      ]),
    );
    const summary = findings.map((f) => [
      f.package,
      f.id,
      f.status,
      f.fixedVersion,
      f.updatable,
      f.availableIn,
    ]);
    assert.deepEqual(summary, [
      ["curl", "CVE-2024-2398", "fixed", "7.88.1-10+deb12u6", true, "bookworm"],
      ["curl", "CVE-2025-9086", "open", undefined, false, undefined],
      ["libssl3", "CVE-2025-9230", "fixed", "3.0.17-1~deb12u3", false, undefined],
      ["libssl3", "CVE-2025-9232", "undetermined", undefined, false, undefined],
      ["zlib1g", "CVE-2023-45853", "fixed", "1:1.2.13.dfsg-1+deb12u1", false, undefined],
    ]);
    assert.equal(findings.find((f) => f.id === "CVE-2025-9086")?.noDsa, "Minor issue");
  });

  it("orders ~deb12uN below the plain revision and +deb12uN above it, as dpkg does", () => {
    const advisory = (fixedVersion: string) => ({
      id: "CVE-2024-0001",
      source: "openssl",
      release: "bookworm",
      status: "fixed" as const,
      fixedVersion,
      severity: "high" as const,
      origin: "tracker" as const,
    });
    const pkg = {
      name: "openssl",
      version: "3.0.15-1~deb12u1",
      source: "openssl",
      sourceVersion: "3.0.15-1~deb12u1",
    };
    assert.equal(matchAdvisories([pkg], [advisory("3.0.15-1")]).length, 1, "~deb12u1 is before 3.0.15-1");
    assert.equal(matchAdvisories([pkg], [advisory("3.0.14-1+deb12u9")]).length, 0);
    assert.equal(
      matchAdvisories([pkg], [advisory("3.0.15-1~deb12u1")]).length,
      0,
      "fixed in exactly this one",
    );
  });

  it("takes an OSV range's introduced version: older versions are not affected", async () => {
    const { advisories } = await readFeed(join(FIXTURES, "osv.json"));
    const curl = (v: string) => ({ name: "curl", version: v, source: "curl", sourceVersion: v });
    assert.equal(matchAdvisories([curl("7.88.1-10+deb12u1")], advisories).length, 0);
    assert.equal(matchAdvisories([curl("7.88.1-10+deb12u5")], advisories)[0]?.id, "CVE-2024-6197");
  });

  it("knows the release from base-files' version", () => {
    assert.equal(releaseOfPackages([{ name: "base-files", version: "12.4+deb12u11" }]), "bookworm");
    assert.equal(releaseOfPackages([{ name: "base-files", version: "13.8" }]), "trixie");
    assert.equal(releaseOfPackages([{ name: "curl", version: "1" }]), undefined);
  });
});

describe("changelog evidence", () => {
  it("names each CVE once, fixed in the oldest entry between the installed and the new version", () => {
    const entries = parseChangelog(OPENSSL_CHANGELOG);
    assert.deepEqual(
      entries.map((e) => [e.version, e.distribution, e.urgency, e.cves]),
      [
        ["3.0.17-1~deb12u3", "bookworm-security", "medium", ["CVE-2025-9230", "CVE-2025-9232"]],
        ["3.0.17-1~deb12u2", "bookworm", "medium", ["CVE-2024-13176", "CVE-2025-9232"]],
        ["3.0.15-1~deb12u1", "bookworm", "high", ["CVE-2024-5535"]],
      ],
    );
    const evidence = changelogEvidence(entries, {
      source: "openssl",
      release: "bookworm",
      installed: "3.0.15-1~deb12u1",
      available: "3.0.17-1~deb12u3",
      availableIn: "bookworm-security",
    });
    assert.equal(evidence.complete, true);
    assert.deepEqual(
      evidence.advisories.map((a) => [a.id, a.fixedVersion, a.severity, a.availableIn]),
      [
        ["CVE-2024-13176", "3.0.17-1~deb12u2", "medium", "bookworm-security"],
        ["CVE-2025-9230", "3.0.17-1~deb12u3", "medium", "bookworm-security"],
        ["CVE-2025-9232", "3.0.17-1~deb12u2", "medium", "bookworm-security"],
      ],
    );
  });

  it("says when the changelog is trimmed above the installed version", () => {
    const evidence = changelogEvidence(parseChangelog(OPENSSL_CHANGELOG), {
      source: "openssl",
      release: "bookworm",
      installed: "3.0.11-1~deb12u2",
      available: "3.0.17-1~deb12u3",
      availableIn: "bookworm-security",
    });
    assert.equal(evidence.complete, false);
    assert.equal(evidence.advisories.length, 4);
  });

  it("reads changelog.Debian.gz from a .deb's data.tar, and caches it per sha256", async () => {
    const dir = await tempDir("changelog-deb");
    const deb = await craftDeb(dir, "libssl3", [
      { name: "./usr/share/doc/libssl3/", type: "directory" },
      { name: "./usr/share/doc/libssl3/changelog.Debian.gz", body: gzipSync(OPENSSL_CHANGELOG) },
    ]);
    assert.equal((await readDebChangelog(deb.path))?.length, 3);
    let opened = 0;
    const path = async () => {
      opened++;
      return deb.path;
    };
    const cache = join(dir, "cache");
    assert.equal((await cachedDebChangelog(deb.sha256, path, cache))?.[0].version, "3.0.17-1~deb12u3");
    assert.equal((await cachedDebChangelog(deb.sha256, path, cache))?.[2].cves[0], "CVE-2024-5535");
    assert.equal(opened, 1, "the second read comes from the cache");
    const linked = await craftDeb(dir, "libssl-doc", [
      { name: "./usr/share/doc/libssl-doc", type: "symlink", linkname: "libssl3" },
    ]);
    assert.equal(await readDebChangelog(linked.path), undefined);
  });

  it("refuses a changelog that is not gzip, as DEB_INVALID", async () => {
    const dir = await tempDir("changelog-bad");
    const deb = await craftDeb(dir, "evil", [
      { name: "./usr/share/doc/evil/changelog.Debian.gz", body: "plain" },
    ]);
    await assert.rejects(readDebChangelog(deb.path), { code: "DEB_INVALID" });
  });

  it("finds the CVEs a signed repository's newer .debs fix, skipping binNMUs", async () => {
    const dir = await tempDir("repo-evidence");
    const changelog = gzipSync(OPENSSL_CHANGELOG);
    const newSsl = await craftDeb(
      dir,
      "libssl3",
      [{ name: "./usr/share/doc/libssl3/changelog.Debian.gz", body: changelog }],
      craftedControl("libssl3", "3.0.17-1~deb12u3", "amd64"),
    );
    const repo = await startFakeRepo({
      suite: "bookworm-security",
      packages: [
        {
          name: "libssl3",
          version: "3.0.17-1~deb12u3",
          fields: { Source: "openssl" },
          body: await readFile(newSsl.path),
        },
        // A binNMU: a new binary version of the same source version fixes nothing.
        { name: "libfoo1", version: "1.0-1+b1", fields: { Source: "foo (1.0-1)" } },
      ],
    });
    try {
      const spec = parseSpec(
        fakeRepoSpec(repo, ["libssl3"], "", "bookworm-security"),
        join(dir, "strata.yaml"),
      );
      const evidence = await repositoryEvidence(
        spec,
        [
          {
            name: "libssl3",
            version: "3.0.15-1~deb12u1",
            source: "openssl",
            sourceVersion: "3.0.15-1~deb12u1",
          },
          { name: "libfoo1", version: "1.0-1", source: "foo", sourceVersion: "1.0-1" },
        ],
        {
          release: "bookworm",
          arch: "amd64",
          ctx: { cacheRoot: join(dir, "cache"), now: new Date("2026-11-24T01:00:00Z") },
        },
      );
      assert.deepEqual(evidence.available.get("libssl3"), {
        version: "3.0.17-1~deb12u3",
        sourceVersion: "3.0.17-1~deb12u3",
        suite: "bookworm-security",
      });
      assert.equal(evidence.available.get("libfoo1")?.version, "1.0-1+b1");
      assert.deepEqual(
        evidence.advisories.map((a) => `${a.id} ${a.fixedVersion} ${a.availableIn}`),
        [
          "CVE-2024-13176 3.0.17-1~deb12u2 bookworm-security",
          "CVE-2025-9230 3.0.17-1~deb12u3 bookworm-security",
          "CVE-2025-9232 3.0.17-1~deb12u2 bookworm-security",
        ],
      );
      assert.equal(
        repo.hits.get("/pool/main/l/libfoo1/libfoo1_1.0-1+b1_amd64.deb"),
        undefined,
        "no binNMU read",
      );
    } finally {
      await repo.close();
    }
  });
});
