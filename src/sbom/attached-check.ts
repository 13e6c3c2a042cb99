import { readInventory } from "../inventory/inventory.js";
import type { Image } from "../oci/image.js";
import { isJsonObject, type Json } from "../util/json.js";
import { packageUrl } from "./purl.js";
import type { SbomFormat } from "./sbom.js";

/**
 * An attached SBOM is a claim by whoever could push to the registry: one that hides a package (or
 * names one the image lacks) must not be returned as the image's. It is checked against the
 * image's own record, the packages its layers' annotations or dpkg records name.
 */

/** The purls an SPDX 2.3 or CycloneDX document gives its packages. */
function purlsOf(doc: Json, format: SbomFormat): string[] {
  if (format === "cyclonedx") {
    const components = Array.isArray(doc.components) ? doc.components : [];
    return components.flatMap((c) => (isJsonObject(c) && typeof c.purl === "string" ? [c.purl] : []));
  }
  const packages = Array.isArray(doc.packages) ? doc.packages : [];
  return packages.flatMap((p) =>
    isJsonObject(p) && Array.isArray(p.externalRefs)
      ? p.externalRefs.flatMap((r) =>
          isJsonObject(r) && r.referenceType === "purl" && typeof r.referenceLocator === "string"
            ? [r.referenceLocator]
            : [],
        )
      : [],
  );
}

/** The Debian binary packages (`name version`) a document lists; a purl that does not parse is skipped. */
export function sbomDebPackages(bytes: Buffer, format: SbomFormat): Set<string> {
  const doc: unknown = JSON.parse(bytes.toString("utf8"));
  const out = new Set<string>();
  for (const purl of isJsonObject(doc) ? purlsOf(doc, format) : []) {
    try {
      const p = packageUrl().PackageURL.fromString(purl);
      // Source packages (`arch=source`) describe where binaries came from, not what is installed.
      if (p.type === "deb" && p.version && p.qualifiers?.arch !== "source") out.add(`${p.name} ${p.version}`);
    } catch {
      // not a purl: it names nothing this check can compare
    }
  }
  return out;
}

/** How many names a message lists before "and N more". */
const SHOWN = 5;

const listed = (names: string[]) =>
  `${names.slice(0, SHOWN).join(", ")}${names.length > SHOWN ? ` and ${names.length - SHOWN} more` : ""}`;

/** Why the attached document is not the image's, or undefined when it lists exactly its packages. */
export async function attachedSbomDisagreement(
  image: Image,
  bytes: Buffer,
  format: SbomFormat,
  where: string,
): Promise<string | undefined> {
  const claimed = sbomDebPackages(bytes, format);
  const inventory = await readInventory(image, where);
  const held = new Set(inventory.packages.map((p) => `${p.name} ${p.version}`));
  const hidden = [...held].filter((p) => !claimed.has(p)).sort();
  const invented = [...claimed].filter((p) => !held.has(p)).sort();
  if (hidden.length === 0 && invented.length === 0) return undefined;
  return [
    hidden.length > 0 ? `leaves out ${hidden.length} package(s) the image holds (${listed(hidden)})` : "",
    invented.length > 0 ? `names ${invented.length} the image does not hold (${listed(invented)})` : "",
  ]
    .filter(Boolean)
    .join(" and ");
}
