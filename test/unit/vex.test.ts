import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import type { Advisory } from "../../src/advisories/advisory.js";
import { parseChangelog } from "../../src/advisories/changelog.js";
import type { Finding } from "../../src/advisories/match.js";
import { memoryAdvisories } from "../../src/advisories/source.js";
import { withAttacher } from "../../src/oci/attached.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { writeLocation } from "../../src/oci/locations/locations.js";
import { type ImageLocation, parseLocationName } from "../../src/oci/locations/name.js";
import { referrerOf } from "../../src/oci/referrers.js";
import type { ImageScan } from "../../src/scan/scan.js";
import { isStrataError } from "../../src/util/errors.js";
import { applyVex } from "../../src/vex/apply.js";
import { attachedVexClaims, attachVex } from "../../src/vex/attach.js";
import { MAX_VEX_BYTES, VEX_MEDIA_TYPE, vexBytes, vexDocument } from "../../src/vex/document.js";
import { readVexFiles, vexClaims } from "../../src/vex/read.js";
import { openVexSchemaErrors } from "../../src/vex/schema.js";
import { type VexFacts, vexStatements } from "../../src/vex/statements.js";
import { vexForImage } from "../../src/vex/vex-image.js";
import { layerOf } from "../helpers/layer-tar.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";
import { OS_RELEASE, stanza } from "../helpers/sbom-image.js";
import { syntheticImage } from "../helpers/synthetic-image.js";

const IMAGE = "pkg:oci/image@sha256:aaaa?arch=amd64";
const DIGEST = "sha256:aaaa";
const SSL = "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12";
const OPENSSL = "pkg:deb/debian/openssl@3.0.15-1~deb12u1?arch=amd64&distro=debian-12";
const ZLIB = "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12";

const CHANGELOG = [
  "openssl (3.0.16-1~deb12u1) bookworm-security; urgency=medium",
  "",
  "  * Fix CVE-2025-0001.",
  "",
  " -- Someone <a@b.c>  Mon, 03 Feb 2025 10:00:00 +0000",
  "",
  "openssl (3.0.15-1~deb12u1) bookworm; urgency=medium",
  "",
  "  * Fix CVE-2024-0002 and CVE-2024-0003.",
  "",
  " -- Someone <a@b.c>  Mon, 02 Sep 2024 10:00:00 +0000",
  "",
  "openssl (3.0.11-1~deb12u2) bookworm-security; urgency=medium",
  "",
  "  * Fix CVE-2023-0004; also mentions CVE-2024-0002 first.",
  "",
  " -- Someone <a@b.c>  Mon, 02 Oct 2023 10:00:00 +0000",
  "",
].join("\n");

function advisory(a: Partial<Advisory> & Pick<Advisory, "id" | "source" | "status">): Advisory {
  return { release: "bookworm", severity: "high", origin: "tracker", ...a };
}

function facts(advisories: Advisory[] = [], changelog = CHANGELOG): VexFacts {
  return {
    imagePurl: IMAGE,
    packages: [
      {
        name: "libssl3",
        version: "3.0.15-1~deb12u1",
        source: "openssl",
        sourceVersion: "3.0.15-1~deb12u1",
        purl: SSL,
      },
      {
        name: "openssl",
        version: "3.0.15-1~deb12u1",
        source: "openssl",
        sourceVersion: "3.0.15-1~deb12u1",
        purl: OPENSSL,
      },
      {
        name: "zlib1g",
        version: "1:1.2.13.dfsg-1",
        source: "zlib",
        sourceVersion: "1:1.2.13.dfsg-1",
        purl: ZLIB,
      },
    ],
    advisories,
    changelogs: new Map([["openssl", parseChangelog(changelog)]]),
  };
}

const byId = (statements: ReturnType<typeof vexStatements>) =>
  new Map(statements.map((s) => [s.vulnerability.name, s]));

describe("the statements strata can justify", { timeout: 30_000 }, () => {
  test("a CVE the package's own changelog names at or below the installed version is fixed, at its oldest entry", () => {
    const statements = byId(vexStatements(facts()));
    assert.deepEqual([...statements.keys()].sort(), ["CVE-2023-0004", "CVE-2024-0002", "CVE-2024-0003"]);
    const s = statements.get("CVE-2024-0002")!;
    assert.equal(s.status, "fixed");
    assert.equal(s.justification, undefined);
    assert.match(
      s.status_notes!,
      /changelog: openssl 3\.0\.11-1~deb12u2 names it; installed 3\.0\.15-1~deb12u1/,
    );
    // The image is the product with every binary of the source a subcomponent, by its SBOM purl;
    // each binary is a product of its own too.
    assert.deepEqual(s.products, [
      { "@id": IMAGE, subcomponents: [{ "@id": SSL }, { "@id": OPENSSL }] },
      { "@id": SSL },
      { "@id": OPENSSL },
    ]);
  });

  test("a CVE named only above the installed version is not stated", () => {
    assert.equal(byId(vexStatements(facts())).has("CVE-2025-0001"), false);
  });

  test("a feed's fix at or below the installed version is fixed; the tracker's not-affected and later ranges are vulnerable_code_not_present", () => {
    const statements = byId(
      vexStatements(
        facts([
          advisory({ id: "CVE-2022-0100", source: "zlib", status: "fixed", fixedVersion: "1:1.2.11.dfsg-4" }),
          advisory({ id: "CVE-2022-0101", source: "zlib", status: "not-affected" }),
          advisory({
            id: "CVE-2022-0102",
            source: "zlib",
            status: "fixed",
            fixedVersion: "1:1.3-2",
            introducedVersion: "1:1.3-1",
            origin: "osv",
          }),
          advisory({ id: "CVE-2022-0103", source: "zlib", status: "fixed", fixedVersion: "1:1.3-1" }),
        ]),
      ),
    );
    assert.equal(statements.get("CVE-2022-0100")!.status, "fixed");
    assert.match(
      statements.get("CVE-2022-0100")!.status_notes!,
      /^tracker: fixed in zlib 1:1\.2\.11\.dfsg-4/,
    );
    for (const id of ["CVE-2022-0101", "CVE-2022-0102"]) {
      assert.equal(statements.get(id)!.status, "not_affected", id);
      assert.equal(statements.get(id)!.justification, "vulnerable_code_not_present", id);
    }
    assert.match(
      statements.get("CVE-2022-0102")!.status_notes!,
      /introduced in zlib 1:1\.3-1, after the installed/,
    );
    // Fixed only above the installed version: vulnerable, so nothing is stated.
    assert.equal(statements.has("CVE-2022-0103"), false);
    assert.deepEqual(statements.get("CVE-2022-0100")!.products[0].subcomponents, [{ "@id": ZLIB }]);
  });

  test("nothing is stated for a CVE an advisory still finds vulnerable, whatever the changelog says", () => {
    const statements = byId(
      vexStatements(
        facts([
          advisory({ id: "CVE-2024-0002", source: "openssl", status: "fixed", fixedVersion: "3.0.17-1" }),
        ]),
      ),
    );
    assert.equal(statements.has("CVE-2024-0002"), false);
    assert.equal(statements.has("CVE-2024-0003"), true);
  });
});

describe("the OpenVEX document", { timeout: 30_000 }, () => {
  test("validates against OpenVEX's published schema, and the same facts give the same bytes", () => {
    const statements = vexStatements(
      facts([advisory({ id: "CVE-2022-0101", source: "zlib", status: "not-affected" })]),
    );
    const doc = vexDocument(statements, "2026-01-02T03:04:05Z");
    assert.equal(openVexSchemaErrors(doc), undefined);
    assert.equal(doc["@context"], "https://openvex.dev/ns/v0.2.0");
    assert.equal(doc.timestamp, "2026-01-02T03:04:05Z");
    assert.match(doc["@id"], /^urn:strata:vex:sha256:[0-9a-f]{64}$/);
    const again = vexDocument([...statements].reverse(), "2026-01-02T03:04:05Z");
    assert.deepEqual(vexBytes(again), vexBytes(doc));
    assert.notEqual(vexDocument(statements.slice(1), "2026-01-02T03:04:05Z")["@id"], doc["@id"]);
  });

  test("the schema refuses not_affected without a justification, an unknown status, and no statements", () => {
    const doc = vexDocument(vexStatements(facts()), "2026-01-02T03:04:05Z");
    const statement = doc.statements[0];
    assert.ok(openVexSchemaErrors({ ...doc, statements: [{ ...statement, status: "not_affected" }] }));
    assert.ok(openVexSchemaErrors({ ...doc, statements: [{ ...statement, status: "gone" }] }));
    assert.ok(openVexSchemaErrors({ ...doc, statements: [] }));
    assert.ok(openVexSchemaErrors({ ...doc, "@id": "no scheme" }));
  });

  test("an image's own doc directory changelogs give the statements of an image strata did not build", async () => {
    const layer = await layerOf([
      { path: "etc/os-release", body: OS_RELEASE },
      {
        path: "var/lib/dpkg/status",
        body: stanza({ name: "libssl3", version: "3.0.15-1~deb12u1", source: "openssl" }),
      },
      { path: "usr/share/doc/libssl3/changelog.Debian.gz", body: gzipSync(CHANGELOG) },
    ]);
    const image = syntheticImage([layer]);
    const doc = await vexForImage(image, "test", { advisories: memoryAdvisories([]) });
    assert.ok(doc);
    assert.equal(openVexSchemaErrors(doc), undefined);
    assert.deepEqual(
      doc.statements.map((s) => s.vulnerability.name),
      ["CVE-2023-0004", "CVE-2024-0002", "CVE-2024-0003"],
    );
    assert.equal(doc.timestamp, "1970-01-01T00:00:00Z");
    assert.match(doc.statements[0].products[0]["@id"], /^pkg:oci\/image@sha256:[0-9a-f]{64}\?arch=amd64$/);
    assert.deepEqual(doc.statements[0].products[0].subcomponents, [
      { "@id": "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12" },
    ]);
    const bare = syntheticImage([
      await layerOf([{ path: "var/lib/dpkg/status", body: stanza({ name: "zlib1g", version: "1" }) }]),
    ]);
    assert.equal(await vexForImage(bare, "test", { advisories: memoryAdvisories([]) }), undefined);
  });
});

function finding(id: string, pkg: string, version: string): Finding {
  return {
    id,
    package: pkg,
    version,
    source: pkg,
    sourceVersion: version,
    severity: "high",
    status: "open",
    updatable: false,
    origins: ["tracker"],
  };
}

function scanOf(findings: Finding[]): ImageScan {
  return {
    reference: "oci:out",
    digest: DIGEST,
    release: "bookworm",
    builtByStrata: true,
    packages: [
      {
        name: "libssl3",
        version: "3.0.15-1~deb12u1",
        source: "openssl",
        sourceVersion: "3.0.15-1~deb12u1",
        architecture: "amd64",
      },
      {
        name: "zlib1g",
        version: "1:1.2.13.dfsg-1",
        source: "zlib",
        sourceVersion: "1:1.2.13.dfsg-1",
        architecture: "amd64",
      },
    ],
    packageCount: 2,
    findings,
    suppressed: [],
    trimmed: [],
    coverage: { release: "bookworm", covered: true, sources: [] },
  };
}

function vexText(statements: object[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      "@context": "https://openvex.dev/ns/v0.2.0",
      "@id": "https://team.example/vex/1",
      author: "a team",
      timestamp: "2026-01-01T00:00:00Z",
      version: 1,
      statements,
    }),
  );
}

describe("VEX applied to a scan", { timeout: 30_000 }, () => {
  const findings = [
    finding("CVE-2024-0002", "libssl3", "3.0.15-1~deb12u1"),
    finding("CVE-2024-0009", "libssl3", "3.0.15-1~deb12u1"),
    finding("CVE-2024-0010", "zlib1g", "1:1.2.13.dfsg-1"),
  ];

  test("a not_affected statement on the image by digest with the package as subcomponent suppresses that finding only", () => {
    const claims = vexClaims(
      vexText([
        {
          vulnerability: { name: "GHSA-xxxx", aliases: ["CVE-2024-0002"] },
          products: [{ "@id": `pkg:oci/app@${encodeURIComponent(DIGEST)}`, subcomponents: [{ "@id": SSL }] }],
          status: "not_affected",
          justification: "vulnerable_code_not_in_execute_path",
        },
        // Another image's digest: not this one.
        {
          vulnerability: { name: "CVE-2024-0009" },
          products: [{ "@id": "pkg:oci/app@sha256%3Abbbb" }],
          status: "fixed",
        },
        // affected says nothing to take away.
        {
          vulnerability: { name: "CVE-2024-0010" },
          products: [{ "@id": ZLIB }],
          status: "affected",
          action_statement: "update",
        },
      ]),
      "team.vex.json",
    );
    const scan = applyVex(scanOf(findings), claims);
    assert.deepEqual(
      scan.findings.map((f) => f.id),
      ["CVE-2024-0009", "CVE-2024-0010"],
    );
    assert.equal(scan.suppressed.length, 1);
    assert.deepEqual(scan.suppressed[0].vex, {
      source: "team.vex.json",
      status: "not_affected",
      justification: "vulnerable_code_not_in_execute_path",
    });
  });

  test("a package purl as the product matches by name, version (Trivy's epoch= put back) and arch", () => {
    const statement = (purl: string) => ({
      vulnerability: { name: "CVE-2024-0010" },
      products: [{ "@id": purl }],
      status: "fixed",
    });
    const suppressedBy = (purl: string) =>
      applyVex(scanOf(findings), vexClaims(vexText([statement(purl)]), "f")).suppressed.length;
    assert.equal(suppressedBy("pkg:deb/debian/zlib1g@1.2.13.dfsg-1?arch=amd64&epoch=1"), 1);
    assert.equal(suppressedBy("pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1"), 1);
    assert.equal(suppressedBy("pkg:deb/debian/zlib1g"), 1);
    assert.equal(suppressedBy("pkg:deb/debian/zlib1g@1.2.13.dfsg-1"), 0);
    assert.equal(suppressedBy("pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=arm64"), 0);
    assert.equal(suppressedBy("pkg:deb/ubuntu/zlib1g@1:1.2.13.dfsg-1"), 0);
  });

  test("hostile VEX is refused with one line: not JSON, not OpenVEX, a product that is no purl, too big, not a file", async () => {
    const refused = (bytes: Buffer, why: RegExp) =>
      assert.throws(
        () => vexClaims(bytes, "x.json"),
        (err) => isStrataError(err, "VEX_INVALID") && why.test(err.message) && !err.message.includes("\n"),
      );
    refused(Buffer.from("{"), /^x\.json: not JSON/);
    refused(Buffer.from('{"statements": []}'), /^x\.json: not an OpenVEX document/);
    refused(
      vexText([
        { vulnerability: { name: "CVE-1" }, products: [{ "@id": "https://not/a/purl" }], status: "fixed" },
      ]),
      /is not a purl/,
    );
    refused(Buffer.alloc(MAX_VEX_BYTES + 1, 0x20), /more than/);
    const dir = await mkdtemp(join(tmpdir(), "vex-"));
    await assert.rejects(
      readVexFiles([dir]),
      (err) => isStrataError(err, "VEX_INVALID") && /not a regular file/.test(err.message),
    );
    const file = join(dir, "ok.json");
    await writeFile(
      file,
      vexText([{ vulnerability: { name: "CVE-1" }, products: [{ "@id": ZLIB }], status: "fixed" }]),
    );
    assert.equal((await readVexFiles([file]))[0].source, file);
  });
});

describe("VEX attached in a real docker-registry 2.8 (loopback; no referrers API)", {
  timeout: 60_000,
}, () => {
  let registry: RegistryServer;
  before(async () => {
    registry = await startRegistry();
  });
  after(() => registry.close());

  test("an archive has no place for VEX: attaching says so before anything is done", async () => {
    const image = syntheticImage([
      await layerOf([{ path: "var/lib/dpkg/status", body: stanza({ name: "zlib1g", version: "1" }) }]),
    ]);
    await assert.rejects(
      attachVex(parseLocationName("docker-archive:/nonexistent/app.tar")!, image, Buffer.from("{}")),
      (err) =>
        isStrataError(err, "USAGE") &&
        /VEX is attached only in an OCI layout or a registry/.test(err.message),
    );
  });

  test("strata's replaces strata's, a team's stays, and both are read back as claims naming their artifact", async () => {
    const image = syntheticImage([
      await layerOf([{ path: "var/lib/dpkg/status", body: stanza({ name: "zlib1g", version: "1" }) }]),
    ]);
    const location = parseLocationName(`docker://${registry.host}/team/vex:1`)!;
    await writeLocation(location, { kind: "image", image }, { refName: "latest", archiveName: "x:1" });
    const subject = imageDescriptor(image);
    const statement = (id: string) => ({
      vulnerability: { name: id },
      products: [{ "@id": ZLIB }],
      status: "fixed",
    });
    const first = await attachVex(location, image, vexText([statement("CVE-2024-0001")]));
    assert.equal(first.via, "tag-fallback");
    assert.equal(first.subject, subject.digest);
    const ours = await attachVex(location, image, vexText([statement("CVE-2024-0002")]));
    const team = referrerOf(
      subject,
      VEX_MEDIA_TYPE,
      { bytes: vexText([statement("CVE-2024-0003")]), title: "team.json" },
      {},
    );
    await withAttacher(location as ImageLocation & { transport: "docker" }, {}, (attach) =>
      attach(team, () => false),
    );
    const claims = await attachedVexClaims(location, image);
    assert.deepEqual(
      claims.map((c) => [c.ids[0], c.source]),
      [
        ["CVE-2024-0002", `attached ${ours.digest}`],
        ["CVE-2024-0003", `attached ${team.descriptor.digest}`],
      ],
    );
    // A crafted attached document is refused in one line, not used.
    const crafted = referrerOf(
      subject,
      VEX_MEDIA_TYPE,
      { bytes: Buffer.from('{"statements":1}'), title: "x" },
      {},
    );
    await withAttacher(location as ImageLocation & { transport: "docker" }, {}, (attach) =>
      attach(crafted, () => false),
    );
    await assert.rejects(
      attachedVexClaims(location, image),
      (err) =>
        isStrataError(err, "VEX_INVALID") &&
        err.message.startsWith(`attached ${crafted.descriptor.digest}: not an OpenVEX document`),
    );
  });
});
