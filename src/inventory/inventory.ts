import type { Image } from "../oci/image.js";
import type { Descriptor } from "../oci/types.js";
import { StrataError } from "../util/errors.js";
import { annotatedPackages, isStrataImage, recordedPackages } from "./annotations.js";
import { dpkgPackages } from "./dpkg-records.js";
import type { InventoryPackage } from "./package.js";

/**
 * One inventory, read from any image in any image location: strata's record or layer annotations first (no
 * layer is read), then the `status.d` records in the layers, then dpkg's `status` database.
 */
export interface Inventory {
  packages: InventoryPackage[];
  /** "annotations" when strata made every layer and they named the packages; "layers" when read from dpkg's records. */
  from: "annotations" | "layers";
  /** How many packages lack architecture and source: plain annotations whose layers were not read. */
  partial: number;
}

export interface InventoryOptions {
  /**
   * Which of a strata image's layers with plain `name=version` annotations to read for the
   * architecture and source (their status.d records); default none.
   */
  complete?: (layer: Descriptor) => boolean;
}

export function byNameAndArch(a: InventoryPackage, b: InventoryPackage): number {
  return (
    a.name.localeCompare(b.name, "en") || (a.architecture ?? "").localeCompare(b.architecture ?? "", "en")
  );
}

/** The packages of a strata image from its record or annotations, completed from the layers `complete` picks. */
async function annotationInventory(image: Image, where: string, opts: InventoryOptions): Promise<Inventory> {
  const packages: InventoryPackage[] = [];
  const toRead = new Set<number>();
  const recorded = await recordedPackages(image, where);
  for (const [index, layer] of image.manifest.layers.entries()) {
    const annotated = recorded
      ? recorded.get(index)
      : annotatedPackages(layer, `${where}: layer ${layer.digest}`);
    if (annotated === undefined) continue;
    if (!annotated.complete && opts.complete?.(layer)) {
      toRead.add(index);
      continue;
    }
    for (const facts of annotated.packages)
      packages.push({ ...facts, layer: { index, digest: layer.digest }, from: "annotation" });
  }
  if (toRead.size > 0) for (const p of await completed(image, where, toRead)) packages.push(p);
  const partial = packages.filter((p) => p.architecture === undefined).length;
  return { packages: packages.sort(byNameAndArch), from: "annotations", partial };
}

/** The status.d records of the chosen layers, which must name the packages their annotations name. */
async function completed(image: Image, where: string, layers: Set<number>): Promise<InventoryPackage[]> {
  const read = await dpkgPackages(image, where, (index) => layers.has(index));
  for (const index of layers) {
    const layer = image.manifest.layers[index];
    const named = annotatedPackages(layer, where)!
      .packages.map((p) => `${p.name}=${p.version}`)
      .sort();
    const recorded = read
      .filter((p) => p.layer.index === index)
      .map((p) => `${p.name}=${p.version}`)
      .sort();
    if (named.join(" ") !== recorded.join(" ")) {
      throw new StrataError(
        "IO",
        `${where}: layer ${layer.digest} is annotated with ${named.join(" ") || "nothing"} but its status.d records ${recorded.join(" ") || "nothing"}`,
        { hint: "the image's annotations and contents disagree; rebuild it" },
      );
    }
  }
  return read;
}

/** The package inventory of `image`; `where` names it in errors. */
export async function readInventory(
  image: Image,
  where: string,
  opts: InventoryOptions = {},
): Promise<Inventory> {
  if (isStrataImage(image.manifest.layers)) return annotationInventory(image, where, opts);
  const packages = await dpkgPackages(image, where);
  return { packages: packages.sort(byNameAndArch), from: "layers", partial: 0 };
}
