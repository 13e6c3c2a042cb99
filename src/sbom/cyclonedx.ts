import { sourcePurl } from "./purl.js";
import { type SbomFacts, type SbomPackage, TOOL, uuidFrom } from "./subject.js";

/**
 * CycloneDX 1.6 JSON: the image as the metadata component, its distribution as an
 * operating-system component, each Debian package a library with its purl (the bom-ref), licences,
 * .deb hash, source package (pedigree ancestor) and layer (property), and the dependency graph.
 * Written as plain JSON so the bytes are exactly ours; the tests validate it with the CycloneDX
 * library's own JSON schema validator.
 */

function licences(p: SbomPackage) {
  if (p.licence === undefined) return undefined;
  if (p.licence.expression !== undefined) return [{ expression: p.licence.expression }];
  return p.licence.names.map(({ name, spdxId }) => ({
    license: spdxId === undefined ? { name } : { id: spdxId },
  }));
}

function component(p: SbomPackage, facts: SbomFacts) {
  const licenses = licences(p);
  const properties = [{ name: "dev.strata:layer.digest", value: p.layer.digest }];
  if (p.architecture !== undefined)
    properties.push({ name: "dev.strata:architecture", value: p.architecture });
  return {
    type: "library",
    "bom-ref": p.purl,
    name: p.name,
    version: p.version,
    ...(p.debSha256 === undefined ? {} : { hashes: [{ alg: "SHA-256", content: p.debSha256 }] }),
    ...(licenses === undefined ? {} : { licenses }),
    purl: p.purl,
    ...(p.source === undefined
      ? {}
      : {
          pedigree: {
            ancestors: [
              {
                type: "library",
                name: p.source,
                version: p.sourceVersion ?? p.version,
                purl: sourcePurl(p.source, p.sourceVersion ?? p.version, facts.os),
              },
            ],
          },
        }),
    properties,
  };
}

function osComponent(facts: SbomFacts) {
  const os = facts.os;
  if (os === undefined) return [];
  return [
    {
      type: "operating-system",
      "bom-ref": `os:${os.id}`,
      name: os.id,
      ...((os.pointRelease ?? os.versionId) === undefined
        ? {}
        : { version: os.pointRelease ?? os.versionId }),
      ...(os.prettyName === undefined ? {} : { description: os.prettyName }),
    },
  ];
}

export function cyclonedxDocument(facts: SbomFacts): object {
  const { image } = facts;
  return {
    bomFormat: "CycloneDX",
    specVersion: "1.6",
    // Derived from the manifest digest: unique per image, and the same on every run.
    serialNumber: `urn:uuid:${uuidFrom(`cyclonedx:${image.digest}`)}`,
    version: 1,
    metadata: {
      timestamp: image.created,
      tools: { components: [{ type: "application", name: TOOL }] },
      component: {
        type: "container",
        "bom-ref": image.purl,
        name: image.name,
        version: image.digest,
        hashes: [{ alg: "SHA-256", content: image.digest.slice("sha256:".length) }],
        purl: image.purl,
        properties: [{ name: "dev.strata:platform", value: image.platform }],
      },
    },
    components: [...osComponent(facts), ...facts.packages.map((p) => component(p, facts))],
    dependencies: [
      { ref: image.purl, dependsOn: facts.packages.map((p) => p.purl).sort() },
      ...facts.packages.map((p) => ({ ref: p.purl, dependsOn: p.dependsOn })),
    ],
  };
}
