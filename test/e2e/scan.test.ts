import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { Finding } from "../../src/advisories/match.js";
import { hostAptSources } from "../../src/debian/sources.js";
import { readLayout } from "../../src/oci/layout.js";
import { runStrata } from "../helpers/cli.js";
import { realDeb, tempDir } from "../helpers/debs.js";
import { buildExample, exampleCopy, SHARED_CACHE } from "../helpers/examples.js";

const exec = promisify(execFile);

/** The host's repositories without the security suite, as a spec's repositories: block. */
function repositoriesWithoutSecurity(): string {
  const lines = ["repositories:"];
  for (const source of hostAptSources()) {
    const suites = source.suites.filter((s) => !s.endsWith("-security"));
    if (suites.length === 0) continue;
    lines.push(
      `  - url: ${source.url}`,
      `    suites: [${suites.join(", ")}]`,
      `    components: [${source.components.join(", ")}]`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** The CVE ids dpkg-parsechangelog finds in a .deb's changelog since `installed`: an independent reading. */
async function cvesSince(debPath: string, pkg: string, installed: string): Promise<string[]> {
  const dir = await tempDir("changelog");
  const { stdout: tar } = await exec("sh", [
    "-c",
    `dpkg-deb --fsys-tarfile "$1" | tar -xO "./usr/share/doc/$2/changelog.Debian.gz" | gunzip > "$3/changelog"`,
    "sh",
    debPath,
    pkg,
    dir,
  ]);
  assert.equal(tar, "");
  const { stdout } = await exec(
    "dpkg-parsechangelog",
    ["-l", join(dir, "changelog"), "--since", installed, "-S", "Changes"],
    {
      maxBuffer: 1 << 24,
    },
  );
  return [...new Set(stdout.match(/CVE-\d{4}-\d{4,}/g) ?? [])].sort();
}

/** The name=version of every package in a strata image's layers (their annotations). */
async function imagePackages(layout: string): Promise<[string, string][]> {
  const artifact = await readLayout(layout);
  assert.equal(artifact.kind, "image");
  const layers = artifact.kind === "image" ? artifact.image.manifest.layers : [];
  return layers
    .flatMap((l) => (l.annotations?.["dev.strata.packages"] ?? "").split(" ").filter(Boolean))
    .map((p) => p.split("=") as [string, string]);
}

const newerThan = (a: string, b: string) =>
  exec("dpkg", ["--compare-versions", a, "gt", b]).then(
    () => true,
    () => false,
  );

/** The version of `name` the host's apt lists offer in a security suite, when it is the newest. */
async function securityCandidate(name: string): Promise<string | undefined> {
  const { stdout } = await exec("apt-cache", ["madison", name]);
  const rows = stdout
    .split("\n")
    .map((l) => l.split("|").map((f) => f.trim()))
    .filter((f) => f.length === 3 && f[0] === name);
  const security = rows.find((f) => / \S+-security\//.test(f[2]));
  if (!security) return undefined;
  const { stdout: candidate } = await exec("apt-cache", ["policy", name]);
  return new RegExp(`Candidate: ${security[1].replace(/[.+~]/g, "\\$&")}$`, "m").test(candidate)
    ? security[1]
    : undefined;
}

/**
 * The test's subject, picked from today's archive rather than named: the first package of the
 * image whose newer .deb in the host's security suite names CVEs in its changelog since the image's
 * version (openssl's libssl3 in 2025-2026). Without one, the archive gives this test nothing to check.
 */
async function securitySubject(layout: string) {
  for (const [name, version] of await imagePackages(layout)) {
    const newer = await securityCandidate(name);
    if (!newer || !(await newerThan(newer, version))) continue;
    const deb = await realDeb(name);
    const cves = await cvesSince(deb.path, name, version).catch(() => [] as string[]);
    if (cves.length > 0) return { name, deb };
  }
  assert.fail("the host's security suite fixes no CVE in the curl image's packages: nothing to test today");
}

describe("strata scan", () => {
  let dir: string;
  let out: string;

  before(async () => {
    // Locked and built against bookworm without its security suite...
    dir = await exampleCopy("curl", (spec) => repositoriesWithoutSecurity() + spec);
    ({ out } = await buildExample(dir));
    // ...and scanned against the host's repositories, the security suite included.
    await writeFile(join(dir, "with-security.yaml"), "packages: [curl]\n");
  });

  it("names the CVEs the security suite's newer .debs' changelogs list, as dpkg-parsechangelog reads them", async () => {
    const r = await runStrata([
      "--cache-dir",
      SHARED_CACHE,
      "scan",
      out,
      "--spec",
      join(dir, "with-security.yaml"),
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [image] = JSON.parse(r.stdout).images as { release: string; findings: Finding[] }[];
    assert.equal(image.release, "bookworm");
    const subject = await securitySubject(out);
    const hits = image.findings.filter((f) => f.package === subject.name);
    assert.ok(hits.length > 0, `the security suite's ${subject.name} fixes CVEs the image's lacks`);
    for (const f of hits) {
      assert.equal(f.availableIn, "bookworm-security");
      assert.equal(f.updatable, true);
      // Locked without the security suite: `strata update` alone would say "nothing to update".
      assert.equal(
        f.fix,
        `strata update ${out} --package ${f.package} --spec ${join(dir, "with-security.yaml")}`,
      );
      assert.deepEqual(f.origins, ["changelog"]);
    }
    const expected = await cvesSince(subject.deb.path, subject.name, hits[0].sourceVersion);
    assert.deepEqual([...new Set(hits.map((f) => f.id))].sort(), expected);
  });

  it("fails a CI job with exit 3 at --fail-on, and writes SARIF 2.1.0", async () => {
    const r = await runStrata([
      "--cache-dir",
      SHARED_CACHE,
      "scan",
      out,
      "--spec",
      join(dir, "with-security.yaml"),
      "--sarif",
      "--fail-on",
      "fixable",
    ]);
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /findings at or above --fail-on fixable/);
    const sarif = JSON.parse(r.stdout);
    assert.equal(sarif.version, "2.1.0");
    const run = sarif.runs[0];
    assert.equal(run.tool.driver.name, "strata");
    assert.ok(run.results.length > 0);
    for (const result of run.results) {
      assert.equal(run.tool.driver.rules[result.ruleIndex].id, result.ruleId);
      assert.match(result.locations[0].physicalLocation.artifactLocation.uri, /^var\/lib\/dpkg\/status\.d\//);
      assert.match(run.tool.driver.rules[result.ruleIndex].properties["security-severity"], /^\d+\.\d$/);
    }
  });

  it("without the security suite's evidence the answer is UNKNOWN, not 0, and --fail-on does not pass it", async () => {
    const r = await runStrata([
      ...["--cache-dir", SHARED_CACHE, "scan", out, "--spec", join(dir, "strata.yaml")],
      ...["--fail-on", "low", "--json"],
    ]);
    assert.equal(r.code, 3, r.stderr);
    const [image] = JSON.parse(r.stdout).images;
    assert.equal(image.coverage.covered, false);
    assert.deepEqual(
      image.coverage.sources.map((c: { kind: string }) => c.kind),
      ["changelog"],
    );
    assert.match(
      r.stderr,
      /no advisories cover bookworm \(changelogs:\S+: no bookworm-security suite\): --fail-on cannot pass/,
    );
    const text = await runStrata([
      "--cache-dir",
      SHARED_CACHE,
      "scan",
      out,
      "--spec",
      join(dir, "strata.yaml"),
    ]);
    assert.match(text.stdout, /packages, vulnerabilities UNKNOWN: no advisories cover bookworm/);
    assert.match(text.stdout, /to know: store a feed that has bookworm/);
    assert.doesNotMatch(text.stdout, / 0 vulnerabilities/);
  });
});

/** The host's repositories moved to trixie: its mirror's URLs, trixie's suites (with or without security). */
function trixieRepositories(withSecurity: boolean): string {
  const lines = ["repositories:"];
  for (const source of hostAptSources()) {
    const security = source.suites.some((s) => s.endsWith("-security"));
    if (security && !withSecurity) continue;
    lines.push(
      `  - url: ${source.url}`,
      `    suites: [${security ? "trixie-security" : "trixie"}]`,
      `    components: [${source.components.join(", ")}]`,
    );
  }
  return `${lines.join("\n")}\n`;
}

describe("strata scan of a trixie image when the advisories are bookworm's (network: host's mirror)", () => {
  let dir: string;
  let out: string;
  const TRACKER = new URL("../fixtures/advisories/tracker.json", import.meta.url).pathname;

  before(async () => {
    dir = await exampleCopy("curl", (spec) => trixieRepositories(false) + spec);
    ({ out } = await buildExample(dir));
    await writeFile(join(dir, "with-security.yaml"), `${trixieRepositories(true)}packages: [curl]\n`);
  });

  it("is unknown with a bookworm feed, and covered once trixie-security's changelogs are read", async () => {
    const scan = (...args: string[]) =>
      runStrata(["--cache-dir", SHARED_CACHE, "scan", out, "--advisories", TRACKER, "--json", ...args]);
    const bookwormOnly = await scan();
    assert.equal(bookwormOnly.code, 0, bookwormOnly.stderr);
    const [unknown] = JSON.parse(bookwormOnly.stdout).images;
    assert.equal(unknown.release, "trixie");
    assert.equal(unknown.coverage.covered, false, "a bookworm feed says nothing of trixie");
    assert.deepEqual(unknown.findings, []);
    const withSecurity = await scan("--spec", join(dir, "with-security.yaml"));
    assert.equal(withSecurity.code, 0, withSecurity.stderr);
    const [covered] = JSON.parse(withSecurity.stdout).images;
    assert.equal(covered.coverage.covered, true);
    assert.ok(
      covered.coverage.sources.some((c: { suites: string[] }) => c.suites.includes("trixie-security")),
    );
  });
});
