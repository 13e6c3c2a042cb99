import { sha256Hex } from "../util/hash.js";
import { sourcePurl } from "./purl.js";
import { type SbomFacts, type SbomPackage, TOOL } from "./subject.js";

/**
 * SPDX 2.3 JSON (no maintained writer exists for it; see schemas/spdx-2.3.schema.json): the image
 * as the package the document describes, each Debian package CONTAINED in it with its purl,
 * source package, declared licence, .deb sha256 and the layer that holds it, and DEPENDS_ON
 * relationships between them.
 */

const NOASSERTION = "NOASSERTION";
const IMAGE_ID = "SPDXRef-image";

/** An SPDX id of a package: its name made safe, and a hash so that "g++" and "g--" never meet. */
function spdxId(p: SbomPackage): string {
  const safe = `${p.name}-${p.architecture ?? "unknown"}`.replace(/[^A-Za-z0-9.-]/g, "-");
  return `SPDXRef-deb-${safe}-${sha256Hex(p.purl).slice(0, 8)}`;
}

function packageEntry(p: SbomPackage, facts: SbomFacts, ids: Map<string, string>) {
  const source =
    p.source !== undefined ? { name: p.source, version: p.sourceVersion ?? p.version } : undefined;
  return {
    SPDXID: ids.get(p.purl)!,
    name: p.name,
    versionInfo: p.version,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    ...(p.debSha256 === undefined
      ? {}
      : { checksums: [{ algorithm: "SHA256", checksumValue: p.debSha256 }] }),
    ...(source === undefined ? {} : { sourceInfo: `built package from: ${source.name} ${source.version}` }),
    licenseConcluded: NOASSERTION,
    licenseDeclared: p.licence?.declared ?? NOASSERTION,
    copyrightText: NOASSERTION,
    externalRefs: [
      { referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: p.purl },
      ...(source === undefined
        ? []
        : [
            {
              referenceCategory: "PACKAGE-MANAGER",
              referenceType: "purl",
              referenceLocator: sourcePurl(source.name, source.version, facts.os),
              comment: "source package",
            },
          ]),
    ],
    annotations: [
      {
        annotationDate: facts.image.created,
        annotationType: "OTHER",
        annotator: `Tool: ${TOOL}`,
        comment: `LayerDigest: ${p.layer.digest}`,
      },
    ],
  };
}

function imageEntry(facts: SbomFacts) {
  const { image } = facts;
  return {
    SPDXID: IMAGE_ID,
    name: image.name,
    versionInfo: image.digest,
    downloadLocation: NOASSERTION,
    filesAnalyzed: false,
    primaryPackagePurpose: "CONTAINER",
    checksums: [{ algorithm: "SHA256", checksumValue: image.digest.slice("sha256:".length) }],
    licenseConcluded: NOASSERTION,
    licenseDeclared: NOASSERTION,
    copyrightText: NOASSERTION,
    comment: `platform ${image.platform}`,
    externalRefs: [
      { referenceCategory: "PACKAGE-MANAGER", referenceType: "purl", referenceLocator: image.purl },
    ],
  };
}

function relationships(facts: SbomFacts, ids: Map<string, string>) {
  const rel = (a: string, type: string, b: string) => ({
    spdxElementId: a,
    relationshipType: type,
    relatedSpdxElement: b,
  });
  return [
    rel("SPDXRef-DOCUMENT", "DESCRIBES", IMAGE_ID),
    ...facts.packages.map((p) => rel(IMAGE_ID, "CONTAINS", ids.get(p.purl)!)),
    ...facts.packages.flatMap((p) =>
      p.dependsOn.map((d) => rel(ids.get(p.purl)!, "DEPENDS_ON", ids.get(d)!)),
    ),
  ];
}

/**
 * The licence names with no SPDX id that packages declare, once each, under the `LicenseRef-` ids
 * their expressions use, with the packages that name them. SPDX requires an extracted text; the
 * copyright file's own `License:` line is what strata read, and it says so.
 */
function extractedLicences(packages: SbomPackage[]) {
  const byRef = new Map<string, { name: string; packages: Set<string> }>();
  for (const p of packages) {
    for (const { name, licenseRef } of p.licence?.names ?? []) {
      if (licenseRef === undefined) continue;
      let entry = byRef.get(licenseRef);
      if (entry === undefined) byRef.set(licenseRef, (entry = { name, packages: new Set() }));
      entry.packages.add(p.name);
    }
  }
  return [...byRef]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([licenseId, { name, packages: named }]) => ({
      licenseId,
      name,
      extractedText: `License: ${name}`,
      comment: `No SPDX id; named by the machine-readable copyright file (usr/share/doc/PACKAGE/copyright) of: ${[...named].sort().join(", ")}`,
    }));
}

export function spdxDocument(facts: SbomFacts): object {
  const ids = new Map(facts.packages.map((p) => [p.purl, spdxId(p)]));
  const hex = facts.image.digest.slice("sha256:".length);
  const extracted = extractedLicences(facts.packages);
  return {
    spdxVersion: "SPDX-2.3",
    dataLicense: "CC0-1.0",
    SPDXID: "SPDXRef-DOCUMENT",
    name: `${facts.image.name}@${facts.image.digest}`,
    // Derived from the manifest digest: unique per image, and the same on every run.
    documentNamespace: `https://spdx.org/spdxdocs/${TOOL}-sha256-${hex}`,
    creationInfo: { created: facts.image.created, creators: [`Tool: ${TOOL}`] },
    packages: [imageEntry(facts), ...facts.packages.map((p) => packageEntry(p, facts, ids))],
    ...(extracted.length === 0 ? {} : { hasExtractedLicensingInfos: extracted }),
    relationships: relationships(facts, ids),
  };
}
