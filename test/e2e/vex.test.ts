import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { promisify } from "node:util";
import { debStore } from "../../src/debian/fetch-debs.js";
import { openVexSchemaErrors } from "../../src/vex/schema.js";
import { runStrata } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { buildExample, exampleCopy, SHARED_CACHE } from "../helpers/examples.js";

const exec = promisify(execFile);

// biome-ignore lint/suspicious/noExplicitAny: parsed OpenVEX and scan JSON, checked field by field (the schema apart)
type Json = any;

/** Every CVE id dpkg-parsechangelog finds in a .deb's own changelog: an independent reading. */
async function changelogCves(debPath: string, pkg: string): Promise<string[]> {
  const dir = await tempDir("vex-changelog");
  await exec("sh", [
    "-c",
    `dpkg-deb --fsys-tarfile "$1" | tar -xO "./usr/share/doc/$2/changelog.Debian.gz" | gunzip > "$3/changelog"`,
    ...["sh", debPath, pkg, dir],
  ]);
  const { stdout } = await exec(
    "dpkg-parsechangelog",
    ["-l", join(dir, "changelog"), "--all", "-S", "Changes"],
    {
      maxBuffer: 1 << 24,
    },
  );
  return [...new Set(stdout.match(/CVE-\d{4}-\d{4,}/g) ?? [])].sort();
}

/** A Debian security tracker document: each [source, CVE] open in bookworm. */
function trackerFeed(open: [string, string][]): string {
  const feed: Json = {};
  for (const [source, cve] of open)
    (feed[source] ??= {})[cve] = {
      releases: { bookworm: { status: "open", urgency: "high", repositories: {} } },
    };
  return JSON.stringify(feed);
}

const cvesOf = (statements: Json[], purlPart: string) =>
  statements
    .filter((s: Json) => s.products[0].subcomponents.some((c: Json) => c["@id"].includes(purlPart)))
    .map((s: Json) => s.vulnerability.name)
    .sort();

describe("strata vex", { timeout: 600_000 }, () => {
  let dir: string;
  let out: string;
  let digest: string;

  before(async () => {
    dir = await exampleCopy("curl");
    ({ out } = await buildExample(dir));
    digest = JSON.parse(await readFile(join(out, "index.json"), "utf8")).manifests[0].digest;
  });

  it("states fixed every CVE openssl's own changelog names up to the installed version, as dpkg-parsechangelog reads it, in valid OpenVEX", async () => {
    const file = join(dir, "vex.json");
    const r = await runStrata(["--cache-dir", SHARED_CACHE, "vex", out, "-o", file]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(await readFile(file, "utf8"));
    assert.equal(openVexSchemaErrors(doc), undefined);
    assert.match(doc.statements[0].products[0]["@id"], new RegExp(`^pkg:oci/image@${digest}\\?arch=amd64$`));
    const lock = JSON.parse(await readFile(join(dir, "strata.lock"), "utf8"));
    const libssl = lock.packages.find((p: Json) => p.name === "libssl3");
    const expected = await changelogCves(debStore(SHARED_CACHE).path(libssl.sha256), "libssl3");
    assert.ok(expected.length > 0, "openssl's changelog names CVEs");
    assert.deepEqual(cvesOf(doc.statements, "/libssl3@"), expected);
    for (const s of doc.statements.filter((s: Json) => expected.includes(s.vulnerability.name)))
      assert.equal(s.status, "fixed");
    // The same image gives the same bytes.
    const again = await runStrata(["--cache-dir", SHARED_CACHE, "vex", out]);
    assert.equal(again.stdout, await readFile(file, "utf8"));
  });

  it("scan and check suppress what attached VEX and --vex files state, each shown with its source", async () => {
    const attach = await runStrata(["--cache-dir", SHARED_CACHE, "vex", out, "--attach"]);
    assert.equal(attach.code, 0, attach.stderr);
    const attached = /attached VEX (sha256:[0-9a-f]{64}) \(\d+ statements\) to (sha256:\S+) \(layout\)/.exec(
      attach.stderr,
    );
    assert.ok(attached, attach.stderr);
    assert.equal(attached[2], digest);
    const doc = JSON.parse((await runStrata(["--cache-dir", SHARED_CACHE, "vex", out])).stdout);
    const stated = cvesOf(doc.statements, "/libssl3@")[0];
    // A feed that (wrongly) holds strata's stated CVE open, and one curl CVE a team triaged.
    const feed = join(dir, "tracker.json");
    await writeFile(
      feed,
      trackerFeed([
        ["openssl", stated],
        ["curl", "CVE-2099-0001"],
        ["curl", "CVE-2099-0002"],
      ]),
    );
    const team = join(dir, "team.vex.json");
    const curlPurl =
      doc.statements
        .flatMap((s: Json) => s.products[0].subcomponents)
        .find((c: Json) => c["@id"].includes("/curl@"))?.["@id"] ?? "pkg:deb/debian/curl";
    await writeFile(
      team,
      JSON.stringify({
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "https://team.example/vex/2026-1",
        author: "platform team",
        timestamp: "2026-01-01T00:00:00Z",
        version: 1,
        statements: [
          {
            vulnerability: { name: "CVE-2099-0001" },
            products: [
              { "@id": `pkg:oci/curl@${encodeURIComponent(digest)}`, subcomponents: [{ "@id": curlPurl }] },
            ],
            status: "not_affected",
            justification: "vulnerable_code_not_in_execute_path",
          },
        ],
      }),
    );
    const scanArgs = ["--cache-dir", SHARED_CACHE, "scan", out, "--advisories", feed, "--vex", team];
    const scan = await runStrata([...scanArgs, "--json"]);
    assert.equal(scan.code, 0, scan.stderr);
    const [image] = JSON.parse(scan.stdout).images;
    // The team's statement names the curl binary only: libcurl4, of the same source, stays found.
    const found = image.findings.map((f: Json) => `${f.id} ${f.package}`).sort();
    assert.deepEqual(found, ["CVE-2099-0001 libcurl4", "CVE-2099-0002 curl", "CVE-2099-0002 libcurl4"]);
    const bySource = new Map(image.suppressed.map((f: Json) => [`${f.id} ${f.package}`, f.vex]));
    assert.deepEqual(bySource.get("CVE-2099-0001 curl"), {
      source: team,
      status: "not_affected",
      justification: "vulnerable_code_not_in_execute_path",
    });
    assert.deepEqual(bySource.get(`${stated} libssl3`), {
      source: `attached ${attached[1]}`,
      status: "fixed",
    });
    const text = await runStrata(scanArgs);
    assert.match(
      text.stdout,
      new RegExp(
        `CVE-2099-0001 .* curl \\S+: suppressed by VEX \\(source: ${team.replace(/[.]/g, "\\.")}, not_affected: vulnerable_code_not_in_execute_path\\)`,
      ),
    );
    assert.match(text.stdout, / suppressed by VEX/);

    const policy = join(dir, "policy.yaml");
    await writeFile(policy, "deny:\n  unfixed: { severity: high }\n");
    const check = await runStrata([
      "--cache-dir",
      SHARED_CACHE,
      "check",
      out,
      "--policy",
      policy,
      "--advisories",
      feed,
      "--vex",
      team,
    ]);
    assert.equal(check.code, 1, check.stderr);
    assert.match(check.stdout, /denied: .*CVE-2099-0002/);
    assert.doesNotMatch(check.stdout, /denied: .*CVE-2099-0001 .*in curl /);
    assert.match(
      check.stdout,
      /suppressed by VEX: CVE-2099-0001 in curl \S+ \(source: .*team\.vex\.json, not_affected/,
    );
  });

  it("strata build attaches the changelogs' VEX by default, from what its layer worker kept (no .deb read again); --no-vex attaches none", async () => {
    // A fresh cache: every layer is made here, so every changelog comes from the layer worker.
    const cache = join(dir, "fresh-cache");
    const built = join(dir, "built");
    const build = ["--cache-dir", cache, "build", join(dir, "strata.yaml"), "-o", built];
    const r = await runStrata(build);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /attached the VEX document sha256:[0-9a-f]{64} to sha256:[0-9a-f]{64} in oci:/);
    const index = JSON.parse(await readFile(join(built, "index.json"), "utf8"));
    const vex = index.manifests.filter((m: Json) => m.artifactType === "application/openvex+json");
    assert.equal(vex.length, 1);
    const lock = JSON.parse(await readFile(join(dir, "strata.lock"), "utf8"));
    const libssl = lock.packages.find((p: Json) => p.name === "libssl3");
    const kept = JSON.parse(await readFile(join(cache, "changelogs", `${libssl.sha256}.json`), "utf8"));
    assert.ok(kept.entries.length > 0, "the layer worker kept libssl3's changelog entries");
    const attached = await runStrata(["--cache-dir", cache, "vex", built]);
    // The build does not check its document against the schema (the statements' shapes are fixed): this does.
    assert.equal(openVexSchemaErrors(JSON.parse(attached.stdout)), undefined);
    const expected = await changelogCves(debStore(cache).path(libssl.sha256), "libssl3");
    assert.deepEqual(cvesOf(JSON.parse(attached.stdout).statements, "/libssl3@"), expected);
    const plain = join(dir, "built-plain");
    assert.equal((await runStrata([...build.slice(0, -1), plain, "--no-vex"])).code, 0);
    const plainIndex = JSON.parse(await readFile(join(plain, "index.json"), "utf8"));
    assert.equal(
      plainIndex.manifests.filter((m: Json) => m.artifactType === "application/openvex+json").length,
      0,
    );
  });

  it("refuses a VEX file that is not OpenVEX with one line and exit 1", async () => {
    const bad = join(dir, "bad.vex.json");
    await writeFile(bad, JSON.stringify({ statements: [{ status: "fixed" }] }));
    const r = await runStrata(["--cache-dir", SHARED_CACHE, "scan", out, "--vex", bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^strata: error: \S+bad\.vex\.json: not an OpenVEX document: /m);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
