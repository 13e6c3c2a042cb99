import assert from "node:assert/strict";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { copyrightLicence, licenseRef } from "../../src/inventory/copyright.js";
import { parseOsRelease, withDebianVersion } from "../../src/inventory/os-release.js";
import type { Image } from "../../src/oci/image.js";
import { debPurl, sourcePurl } from "../../src/sbom/purl.js";
import { computeSboms, type SbomFormat } from "../../src/sbom/sbom.js";
import { ImageFacts } from "../../src/sbom/subject.js";
import { isStrataError } from "../../src/util/errors.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import { layerOf } from "../helpers/layer-tar.js";
import { BASE_FILES, OLD_ZLIB } from "../helpers/page-fleet.js";
import { copyright, LICENCES, OS_RELEASE, PACKAGES, stanza, strataLikeImage } from "../helpers/sbom-image.js";
import { cyclonedxErrors, spdxErrors } from "../helpers/sbom-schemas.js";
import { syntheticImage } from "../helpers/synthetic-image.js";

// biome-ignore lint/suspicious/noExplicitAny: parsed SBOM JSON, checked field by field (the schemas are checked apart)
type Doc = any;

async function documents(image: Image): Promise<Record<SbomFormat, { text: string; json: Doc }>> {
  const sboms = await computeSboms(image, ["spdx", "cyclonedx"], "test");
  const read = (f: SbomFormat) => ({
    text: sboms.get(f)!.toString(),
    json: JSON.parse(sboms.get(f)!.toString()),
  });
  return { spdx: read("spdx"), cyclonedx: read("cyclonedx") };
}

describe("SBOMs of an image", () => {
  test("both formats validate against their official schemas", async () => {
    const { spdx, cyclonedx } = await documents(await strataLikeImage(PACKAGES, LICENCES));
    assert.equal(spdxErrors(spdx.json), null);
    assert.equal(await cyclonedxErrors(cyclonedx.text), null);
  });

  test("every package is listed with its purl, distro from os-release, source and layer", async () => {
    const image = await strataLikeImage(PACKAGES, LICENCES);
    const { spdx, cyclonedx } = await documents(image);
    const libs = cyclonedx.json.components.filter((c: Doc) => c.type === "library");
    assert.deepEqual(
      libs.map((c: Doc) => c.name),
      [...PACKAGES.map((p) => p.name)].sort(),
    );
    const zlib = libs.find((c: Doc) => c.name === "zlib1g");
    assert.equal(zlib.purl, "pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?arch=amd64&distro=debian-12");
    assert.equal(zlib.pedigree.ancestors[0].name, "zlib");
    const zlibLayer = image.manifest.layers[1 + PACKAGES.findIndex((p) => p.name === "zlib1g")].digest;
    assert.deepEqual(zlib.properties[0], { name: "dev.strata:layer.digest", value: zlibLayer });
    assert.deepEqual(
      cyclonedx.json.components
        .filter((c: Doc) => c.type === "operating-system")
        .map((c: Doc) => [c.name, c.version]),
      [["debian", "12"]],
    );
    const spdxZlib = spdx.json.packages.find((p: Doc) => p.name === "zlib1g");
    assert.equal(spdxZlib.sourceInfo, "built package from: zlib 1:1.2.13.dfsg-1");
    assert.equal(spdxZlib.annotations[0].comment, `LayerDigest: ${zlibLayer}`);
    assert.equal(spdx.json.packages.length, PACKAGES.length + 1, "the image and its packages");
  });

  test("the image is what the documents describe: manifest digest and platform", async () => {
    const image = await strataLikeImage(PACKAGES, LICENCES);
    const { spdx, cyclonedx } = await documents(image);
    const digest = `sha256:${(await import("../../src/util/hash.js")).sha256Hex(image.manifestBytes)}`;
    const described = spdx.json.relationships.find((r: Doc) => r.relationshipType === "DESCRIBES");
    const root = spdx.json.packages.find((p: Doc) => p.SPDXID === described.relatedSpdxElement);
    assert.equal(root.versionInfo, digest);
    assert.equal(root.comment, "platform linux/amd64");
    assert.equal(cyclonedx.json.metadata.component.version, digest);
    assert.equal(cyclonedx.json.metadata.component.type, "container");
    assert.ok(spdx.json.documentNamespace.endsWith(digest.slice(7)));
  });

  test("licences: SPDX expressions from DEP-5 files, a LicenseRef the document extracts (SPDX) or the name (CycloneDX) where a licence has no SPDX id", async () => {
    const { spdx, cyclonedx } = await documents(await strataLikeImage(PACKAGES, LICENCES));
    const declared = Object.fromEntries(spdx.json.packages.map((p: Doc) => [p.name, p.licenseDeclared]));
    assert.equal(declared.libc6, "LGPL-2.1-or-later");
    assert.equal(declared.zlib1g, "Zlib");
    assert.equal(declared.debconf, "BSD-2-Clause");
    assert.equal(declared.tzdata, "LicenseRef-public-domain");
    assert.equal(declared["gcc-12-base"], "NOASSERTION", "no copyright file at all");
    assert.deepEqual(spdx.json.hasExtractedLicensingInfos, [
      {
        licenseId: "LicenseRef-public-domain",
        name: "public-domain",
        extractedText: "License: public-domain",
        comment:
          "No SPDX id; named by the machine-readable copyright file (usr/share/doc/PACKAGE/copyright) of: tzdata",
      },
    ]);
    assert.equal(spdxErrors(spdx.json), null);
    const tz = cyclonedx.json.components.find((c: Doc) => c.name === "tzdata");
    assert.deepEqual(tz.licenses, [{ license: { name: "public-domain" } }]);
  });

  test("an SPDX document with no unmapped licence has no hasExtractedLicensingInfos", async () => {
    const { spdx } = await documents(await strataLikeImage(PACKAGES, { ...LICENCES, tzdata: "MIT" }));
    assert.equal("hasExtractedLicensingInfos" in spdx.json, false);
  });

  test("hostile and very long licence names become bounded, distinct LicenseRef ids that SPDX's grammar accepts", async () => {
    const long = `Evil${"-x".repeat(400)}`;
    const hostile = {
      libc6: "MIT) OR (LicenseRef-x",
      zlib1g: '<script>alert("x")</script> or Zlib',
      libssl3: long,
      tzdata: `${long}y`,
      debconf: "GPL-2 with OpenSSL exception, and naïve-licence",
    };
    const { spdx, cyclonedx } = await documents(await strataLikeImage(PACKAGES, hostile));
    assert.equal(spdxErrors(spdx.json), null, "every expression parses; every LicenseRef is extracted");
    assert.equal(await cyclonedxErrors(cyclonedx.text), null);
    const extracted = spdx.json.hasExtractedLicensingInfos as Doc[];
    for (const e of extracted) {
      assert.match(e.licenseId, /^LicenseRef-[A-Za-z0-9.-]{1,90}$/);
      assert.ok(e.licenseId.length <= 88, `${e.licenseId.length} characters`);
    }
    const byName = new Map(extracted.map((e) => [e.name, e.licenseId]));
    assert.notEqual(byName.get(long), byName.get(`${long}y`), "names cut to the same prefix keep apart");
    assert.equal(byName.get(long)?.startsWith("LicenseRef-Evil-x-x"), true);
    const declared = Object.fromEntries(spdx.json.packages.map((p: Doc) => [p.name, p.licenseDeclared]));
    assert.match(declared.zlib1g, /^LicenseRef-script-alert-x-script-[0-9a-f]{12} OR Zlib$/);
    assert.match(declared.libc6, /^LicenseRef-MIT-[0-9a-f]{12} OR LicenseRef-LicenseRef-x-[0-9a-f]{12}$/);
    const ssl = cyclonedx.json.components.find((c: Doc) => c.name === "libssl3");
    assert.deepEqual(ssl.licenses, [{ license: { name: long } }], "CycloneDX keeps the name as written");
  });

  test("dependencies resolve to installed packages, through alternatives and Provides", async () => {
    const { spdx, cyclonedx } = await documents(await strataLikeImage(PACKAGES, LICENCES));
    const deps = Object.fromEntries(
      cyclonedx.json.dependencies.map((d: Doc) => [
        d.ref.replace(/^pkg:deb\/debian\/([^@]+)@.*$/, "$1"),
        d.dependsOn,
      ]),
    );
    const names = (purls: string[]) => purls.map((p) => p.replace(/^pkg:deb\/debian\/([^@]+)@.*$/, "$1"));
    assert.deepEqual(names(deps["libgcc-s1"]), ["gcc-12-base", "libc6"]);
    assert.deepEqual(names(deps.tzdata), ["debconf"]);
    assert.deepEqual(names(deps["gcc-12-base"]), []);
    const dependsOn = spdx.json.relationships.filter((r: Doc) => r.relationshipType === "DEPENDS_ON");
    assert.equal(dependsOn.length, 6);
  });

  test("the same image gives the same bytes; the time is the image's created", async () => {
    const a = await documents(await strataLikeImage(PACKAGES, LICENCES));
    const b = await documents(await strataLikeImage(PACKAGES, LICENCES));
    assert.equal(a.spdx.text, b.spdx.text);
    assert.equal(a.cyclonedx.text, b.cyclonedx.text);
    assert.equal(a.spdx.json.creationInfo.created, "1970-01-01T00:00:00Z");
    assert.equal(a.cyclonedx.json.metadata.timestamp, "1970-01-01T00:00:00Z");
    assert.match(
      a.cyclonedx.json.serialNumber,
      /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  test("with a cache, each layer is read once for SBOMs: the next documents read none and are the same bytes", async () => {
    const cacheRoot = await tempDir("details-cache");
    const { image, opened } = await strataImage([BASE_FILES, OLD_ZLIB]);
    const first = await computeSboms(image, ["spdx", "cyclonedx"], "test", new ImageFacts({ cacheRoot }));
    const readOnce = opened.length;
    assert.ok(readOnce > 0);
    const again = await computeSboms(image, ["spdx", "cyclonedx"], "test", new ImageFacts({ cacheRoot }));
    assert.equal(opened.length, readOnce, "no layer read the second time");
    assert.deepEqual(again, first);
    // A damaged entry is not an answer: the layer is read again and the entry made anew.
    const dir = join(cacheRoot, "layer-details", "v1");
    const [entry] = await readdir(dir);
    await writeFile(join(dir, entry), "{not json");
    const healed = await computeSboms(image, ["spdx", "cyclonedx"], "test", new ImageFacts({ cacheRoot }));
    assert.equal(opened.length, readOnce + 1);
    assert.deepEqual(healed, first);
    await computeSboms(image, ["spdx"], "test");
    assert.equal(opened.length, readOnce * 2 + 1, "without a cache root every layer is read");
  });

  test("an image strata did not build: packages from var/lib/dpkg/status, whiteouts applied", async () => {
    const status = PACKAGES.map(stanza).join("\n");
    const lower = await layerOf([
      { path: "usr/lib/os-release", body: OS_RELEASE },
      { path: "var/lib/dpkg/status", body: status },
      { path: "usr/share/doc/zlib1g/copyright", body: copyright("Zlib") },
      { path: "usr/share/doc/libssl3/copyright", body: copyright("Apache-2.0") },
    ]);
    const upper = await layerOf([
      {
        path: "var/lib/dpkg/status",
        body: PACKAGES.filter((p) => p.name !== "tzdata")
          .map(stanza)
          .join("\n"),
      },
      { path: "usr/share/doc/.wh.libssl3" },
    ]);
    const { spdx } = await documents(syntheticImage([lower, upper]));
    const names = spdx.json.packages.slice(1).map((p: Doc) => p.name);
    assert.ok(!names.includes("tzdata"), "the upper status drops tzdata");
    const declared = Object.fromEntries(spdx.json.packages.map((p: Doc) => [p.name, p.licenseDeclared]));
    assert.equal(declared.zlib1g, "Zlib");
    assert.equal(declared.libssl3, "NOASSERTION", "its doc directory is whited out");
    assert.equal(spdxErrors(spdx.json), null);
  });

  test("an image with no packages, and a layer that is not a tar: one clear error each", async () => {
    const empty = syntheticImage([await layerOf([{ path: "etc/hostname", body: "x\n" }])]);
    await assert.rejects(
      computeSboms(empty, ["spdx"], "test"),
      (err) => isStrataError(err, "IO") && /holds no Debian packages/.test(err.message),
    );
    const notTar = await layerOf([{ path: "x", body: "y" }]);
    const { gzipSync } = await import("node:zlib");
    notTar.bytes = gzipSync(Buffer.from("this is not a tar archive, not at all ".repeat(40)));
    const { descriptorOf } = await import("../../src/oci/image.js");
    notTar.descriptor = descriptorOf(notTar.descriptor.mediaType, notTar.bytes);
    await assert.rejects(
      computeSboms(syntheticImage([notTar]), ["spdx"], "test"),
      (err) => isStrataError(err, "IO") && /is not a readable tar/.test(err.message),
    );
  });
});

describe("purls, licences and os-release", () => {
  test("purls keep epochs, ~ and : as they are and encode + (the specification's canonical form), qualifiers in canonical order", () => {
    const os = { id: "debian", versionId: "12" };
    const p = { name: "libssl3", version: "1:3.0.15-1~deb12u1+b1", architecture: "amd64", source: "openssl" };
    assert.equal(
      debPurl({ ...p, layer: { index: 0, digest: "" }, from: "status" }, os),
      "pkg:deb/debian/libssl3@1:3.0.15-1~deb12u1%2Bb1?arch=amd64&distro=debian-12",
    );
    assert.equal(
      debPurl({ ...p, layer: { index: 0, digest: "" }, from: "status" }, { ...os, pointRelease: "12.8" }),
      "pkg:deb/debian/libssl3@1:3.0.15-1~deb12u1%2Bb1?arch=amd64&distro=debian-12.8",
      "Debian's point release names the distro, as Trivy names it",
    );
    assert.equal(
      sourcePurl("attr", "1:2.4.47-2+b1", os),
      "pkg:deb/debian/attr@1:2.4.47-2%2Bb1?arch=source&distro=debian-12",
    );
    assert.equal(
      debPurl(
        { name: "g++", version: "4:12.2.0-3", layer: { index: 0, digest: "" }, from: "status" },
        undefined,
      ),
      "pkg:deb/debian/g%2B%2B@4:12.2.0-3",
    );
  });

  test("Debian's point release comes from debian_version only when it is a number, and only for Debian", () => {
    const debian = { id: "debian", versionId: "12" };
    assert.equal(withDebianVersion(debian, "12.8\n").pointRelease, "12.8");
    assert.equal(withDebianVersion(debian, "trixie/sid\n").pointRelease, undefined, "testing has no number");
    assert.equal(withDebianVersion(debian, undefined).pointRelease, undefined);
    for (const hostile of ["12.8&arch=evil", "12.8\n13", "../../x", "1".repeat(300), "12..8", ""])
      assert.equal(withDebianVersion(debian, hostile).pointRelease, undefined, hostile);
    assert.equal(
      withDebianVersion({ id: "ubuntu", versionId: "24.04" }, "trixie/sid").pointRelease,
      undefined,
    );
  });

  test("DEP-5 expressions: or, and, comma-and, GNU versions, Debian's own names; else names only", () => {
    assert.deepEqual(copyrightLicence(copyright("GPL-2+ or Artistic")), {
      expression: "GPL-2.0-or-later OR Artistic-1.0",
      declared: "GPL-2.0-or-later OR Artistic-1.0",
      names: [
        { name: "GPL-2+", spdxId: "GPL-2.0-or-later" },
        { name: "Artistic", spdxId: "Artistic-1.0" },
      ],
    });
    assert.equal(
      copyrightLicence(copyright("GPL-3, and Expat or BSD-3-clause"))?.expression,
      "GPL-3.0-only AND (MIT OR BSD-3-Clause)",
    );
    const withException = copyrightLicence(copyright("GPL-2 with OpenSSL exception"));
    assert.equal(withException?.expression, undefined);
    assert.match(withException!.declared, /^LicenseRef-GPL-2-with-OpenSSL-exception-[0-9a-f]{12}$/);
    assert.deepEqual(withException?.names, [
      { name: "GPL-2 with OpenSSL exception", licenseRef: withException!.declared },
    ]);
    const mixed = copyrightLicence(
      `${copyright("BSD-variant")}\nFiles: debian/*\nCopyright: x\nLicense: GPL-2\n`,
    );
    assert.deepEqual(mixed, {
      declared: "LicenseRef-BSD-variant AND GPL-2.0-only",
      names: [
        { name: "BSD-variant", licenseRef: "LicenseRef-BSD-variant" },
        { name: "GPL-2", spdxId: "GPL-2.0-only" },
      ],
    });
    assert.deepEqual(
      copyrightLicence(copyright("Perl"))?.names,
      [{ name: "Perl" }],
      "an expression, not one id",
    );
    const two = `${copyright("Expat")}\nFiles: debian/*\nCopyright: x\nLicense: GPL-2+ or LGPL-2.1\n`;
    assert.equal(copyrightLicence(two)?.expression, "MIT AND (GPL-2.0-or-later OR LGPL-2.1-only)");
    assert.equal(copyrightLicence("This package was debianized by someone.\nLicense: GPL\n"), undefined);
  });

  test("a License line of a megabyte of blanks is answered at once; a longer-than-any-licence line is not believed", () => {
    const started = process.hrtime.bigint();
    assert.deepEqual(copyrightLicence(copyright(`GPL-2${" ".repeat(1 << 20)}x`))?.names, [
      { name: "GPL-2 x", licenseRef: licenseRef("GPL-2 x") },
    ]);
    assert.equal(copyrightLicence(copyright(`GPL-2${"-x".repeat(1000)}`)), undefined);
    const spaced = copyrightLicence(copyright(`GPL-2+${" ".repeat(500)}or${"\t".repeat(300)}Artistic`));
    assert.equal(spaced?.expression, "GPL-2.0-or-later OR Artistic-1.0");
    assert.ok(process.hrtime.bigint() - started < 2_000_000_000n, "the licence split took seconds");
  });

  test("repeated licence names count once against the cap: 300 paragraphs of GPL-1+ or Artistic keep the licence", () => {
    const paragraphs = Array.from(
      { length: 300 },
      (_, i) => `Files: f${i}\nCopyright: x\nLicense: GPL-1+ or Artistic\n`,
    );
    const perlLike = `${copyright("GPL-1+ or Artistic")}\n${paragraphs.join("\n")}`;
    assert.equal(copyrightLicence(perlLike)?.expression, "GPL-1.0-or-later OR Artistic-1.0");
    const distinct = Array.from({ length: 300 }, (_, i) => `Files: f${i}\nCopyright: x\nLicense: L${i}\n`);
    assert.equal(copyrightLicence(`${copyright("Expat")}\n${distinct.join("\n")}`), undefined);
  });

  test("os-release: quoted values, and values that could not be trusted are dropped", () => {
    assert.deepEqual(parseOsRelease(OS_RELEASE), {
      id: "debian",
      versionId: "12",
      codename: "bookworm",
      prettyName: "Debian GNU/Linux 12 (bookworm)",
    });
    assert.deepEqual(parseOsRelease('ID=debian\nVERSION_ID="12/../../x"\n'), { id: "debian" });
    assert.equal(parseOsRelease('ID="../etc"\n'), undefined);
  });
});
