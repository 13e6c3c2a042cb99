import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { Finding } from "../../src/advisories/match.js";
import { hostAptSources } from "../../src/debian/sources.js";
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
    const ssl = image.findings.filter((f) => f.package === "libssl3");
    assert.ok(ssl.length > 0, "the security suite's openssl fixes CVEs the image's lacks");
    for (const f of ssl) {
      assert.equal(f.availableIn, "bookworm-security");
      assert.equal(f.updatable, true);
      assert.deepEqual(f.origins, ["changelog"]);
    }
    const newer = await realDeb("libssl3"); // the host's candidate: the security suite's
    const expected = await cvesSince(newer.path, "libssl3", ssl[0].sourceVersion);
    assert.deepEqual([...new Set(ssl.map((f) => f.id))].sort(), expected);
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

  it("without the security suite's evidence finds nothing, and passes", async () => {
    const r = await runStrata([
      "--cache-dir",
      SHARED_CACHE,
      "scan",
      out,
      "--spec",
      join(dir, "strata.yaml"),
      "--fail-on",
      "low",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, / 0 vulnerabilities/);
  });
});
