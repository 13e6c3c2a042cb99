import type { Image } from "../oci/image.js";
import type { Descriptor } from "../oci/types.js";
import { StrataAnnotation } from "../record/keys.js";
import { readImageRecord } from "../record/record.js";
import { StrataError } from "../util/errors.js";
import { checkFacts, type PackageIdentity } from "./package.js";

/**
 * The packages a strata image names, read without touching its layers:
 *
 * - its record (src/record/record.ts), when the manifest names one: every layer's lock entries,
 *   with architecture, source and the .deb's sha256; one blob read for the whole image;
 * - else each layer's `dev.strata.packages` (space-separated `name=version`), with no architecture,
 *   source or .deb sha256.
 */

/** Far more than a layer budget's group of packages; an annotation beyond it is refused, not parsed. */
const MAX_ANNOTATION_BYTES = 1 << 20;

export interface AnnotatedPackages {
  packages: PackageIdentity[];
  /** Whether architecture and source are known (from the record); else a layer read fills them in. */
  complete: boolean;
}

function annotationError(where: string, why: string): StrataError {
  return new StrataError("IO", `${where}: annotation ${why}`, {
    hint: "the image's annotations are damaged or crafted; rebuild the image",
  });
}

function fromPairs(text: string, where: string): PackageIdentity[] {
  return text
    .split(" ")
    .filter((pair) => pair !== "")
    .map((pair) => {
      const eq = pair.indexOf("=");
      if (eq <= 0)
        throw annotationError(
          where,
          `${StrataAnnotation.packages} holds "${pair.slice(0, 80)}", not name=version`,
        );
      return checkFacts({ name: pair.slice(0, eq), version: pair.slice(eq + 1) }, where);
    });
}

/** The packages a layer descriptor's annotations name, or undefined when it names none. */
export function annotatedPackages(layer: Descriptor, where: string): AnnotatedPackages | undefined {
  const annotations = layer.annotations ?? {};
  const pairs = annotations[StrataAnnotation.packages];
  if (pairs === undefined) return undefined;
  if (pairs.length > MAX_ANNOTATION_BYTES)
    throw annotationError(where, `of ${pairs.length} bytes is refused`);
  return { packages: fromPairs(pairs, where), complete: false };
}

/**
 * Per layer index, the packages the record of `image` names (lock entries, complete), or undefined
 * when its manifest names no record. A record it names must be there and match it.
 */
export async function recordedPackages(
  image: Image,
  where: string,
): Promise<Map<number, AnnotatedPackages> | undefined> {
  if (image.manifest.annotations?.[StrataAnnotation.record] === undefined) return undefined;
  const record = await readImageRecord(image, where);
  const out = new Map<number, AnnotatedPackages>();
  for (const [index, layer] of record.layers.entries()) {
    if (layer.packages === undefined) continue;
    const packages = layer.packages.map((p) =>
      checkFacts(
        {
          name: p.name,
          version: p.version,
          architecture: p.architecture,
          source: p.source,
          sourceVersion: p.sourceVersion,
          debSha256: p.sha256,
        },
        where,
      ),
    );
    out.set(index, { packages, complete: true });
  }
  return out;
}

/** Whether strata made every layer (each says its kind): then the annotations are the whole story. */
export function isStrataImage(layers: Descriptor[]): boolean {
  return layers.length > 0 && layers.every((l) => l.annotations?.[StrataAnnotation.layerKind] !== undefined);
}
