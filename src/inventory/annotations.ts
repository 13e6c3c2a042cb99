import { z } from "zod";
import { Annotation, type Descriptor } from "../oci/types.js";
import { StrataError } from "../util/errors.js";
import { checkFacts, type PackageIdentity } from "./package.js";

/**
 * The packages strata's layer annotations name, read without touching the layer:
 *
 * - `dev.strata.packages.json`: `[{"name","version","architecture","source","sourceVersion","sha256"}]`
 *   (sha256 of the .deb), the full record; used first when a builder writes it;
 * - `dev.strata.packages`: space-separated `name=version`, with no architecture or source.
 */

/** Far more than a layer budget's group of packages; an annotation beyond it is refused, not parsed. */
const MAX_ANNOTATION_BYTES = 1 << 20;

const recordSchema = z.array(
  z.object({
    name: z.string(),
    version: z.string(),
    architecture: z.string().optional(),
    source: z.string().optional(),
    sourceVersion: z.string().optional(),
    sha256: z.string().optional(),
  }),
);

export interface AnnotatedPackages {
  packages: PackageIdentity[];
  /** Whether architecture and source are known (the JSON form); else a layer read fills them in. */
  complete: boolean;
}

function annotationError(where: string, why: string): StrataError {
  return new StrataError("IO", `${where}: annotation ${why}`, {
    hint: "the image's annotations are damaged or crafted; rebuild the image",
  });
}

function fromJson(text: string, where: string): PackageIdentity[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw annotationError(where, `${Annotation.packagesJson} is not valid JSON`);
  }
  const parsed = recordSchema.safeParse(json);
  if (!parsed.success) throw annotationError(where, `${Annotation.packagesJson} is malformed`);
  return parsed.data.map(({ sha256, ...rest }) =>
    checkFacts({ ...rest, ...(sha256 === undefined ? {} : { debSha256: sha256 }) }, where),
  );
}

function fromPairs(text: string, where: string): PackageIdentity[] {
  return text
    .split(" ")
    .filter((pair) => pair !== "")
    .map((pair) => {
      const eq = pair.indexOf("=");
      if (eq <= 0)
        throw annotationError(where, `${Annotation.packages} holds "${pair.slice(0, 80)}", not name=version`);
      return checkFacts({ name: pair.slice(0, eq), version: pair.slice(eq + 1) }, where);
    });
}

/** The packages a layer descriptor's annotations name, or undefined when it names none. */
export function annotatedPackages(layer: Descriptor, where: string): AnnotatedPackages | undefined {
  const annotations = layer.annotations ?? {};
  const json = annotations[Annotation.packagesJson];
  const pairs = annotations[Annotation.packages];
  const text = json ?? pairs;
  if (text === undefined) return undefined;
  if (text.length > MAX_ANNOTATION_BYTES) throw annotationError(where, `of ${text.length} bytes is refused`);
  if (json !== undefined) return { packages: fromJson(json, where), complete: true };
  return { packages: fromPairs(text, where), complete: false };
}

/** Whether strata made every layer (each says its kind): then the annotations are the whole story. */
export function isStrataImage(layers: Descriptor[]): boolean {
  return layers.length > 0 && layers.every((l) => l.annotations?.[Annotation.layerKind] !== undefined);
}
