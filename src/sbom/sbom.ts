import type { Image } from "../oci/image.js";
import { cyclonedxDocument } from "./cyclonedx.js";
import { spdxDocument } from "./spdx.js";
import { ImageFacts } from "./subject.js";

/** An image's SBOM in either format, as the bytes strata writes and attaches. */

export const SBOM_FORMATS = ["spdx", "cyclonedx"] as const;
export type SbomFormat = (typeof SBOM_FORMATS)[number];

/** The artifactType (and layer media type) of an attached SBOM (OCI 1.1 artifacts). */
export const SBOM_MEDIA_TYPES: Record<SbomFormat, string> = {
  spdx: "application/spdx+json",
  cyclonedx: "application/vnd.cyclonedx+json",
};

/** The most bytes an attached SBOM may have when read back (tens of thousands of packages fit). */
export const MAX_SBOM_BYTES = 64 << 20;

/** The documents of `image` in each format asked for, made from its facts (each layer read once, and only once per cache). */
export async function computeSboms(
  image: Image,
  formats: readonly SbomFormat[],
  where: string,
  facts: ImageFacts = new ImageFacts(),
): Promise<Map<SbomFormat, Buffer>> {
  const known = await facts.of(image, where);
  const out = new Map<SbomFormat, Buffer>();
  for (const format of formats) {
    const document = format === "spdx" ? spdxDocument(known) : cyclonedxDocument(known);
    out.set(format, Buffer.from(`${JSON.stringify(document, null, 2)}\n`));
  }
  return out;
}
