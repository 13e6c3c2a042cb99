import { dpkgPackages } from "../inventory/dpkg-records.js";
import { readInventory } from "../inventory/inventory.js";
import type { InventoryPackage, PackageIdentity } from "../inventory/package.js";
import type { Image } from "../oci/image.js";
import { boundedLayers } from "./layer-bounds.js";

/**
 * The packages each layer of an image brings, read once per layer digest: a strata image's from
 * its annotations (its layers are read only where a plain `name=version` annotation lacks the
 * source), another image's from the dpkg records of each new layer on its own.
 */

/** One package as one layer's dpkg record lists it. */
export interface DpkgListing {
  layer: number;
  facts: PackageIdentity;
  /** The record that lists it, "status" or "status.d/NAME": an upper layer's record of that path hides it. */
  record: string;
}

export interface NewLayerListings {
  records: DpkgListing[];
  /** The layers whose bytes were read (the others' packages came from annotations alone). */
  read: Set<number>;
  /** A strata image: each package is on the one layer that holds it, so its layers hide nothing. */
  strata: boolean;
}

function recordOf(p: InventoryPackage): DpkgListing {
  const { layer, from, ...facts } = p;
  return { layer: layer.index, facts, record: from === "status" ? "status" : `status.d/${p.name}` };
}

/** The records the annotations of the layers `pick` chooses give (a layer lacking a source is read). */
export async function annotatedRecords(
  image: Image,
  where: string,
  pick: (index: number) => boolean,
): Promise<{ records: DpkgListing[]; read: Set<number> }> {
  const layers = image.manifest.layers;
  const chosen = [...layers.keys()].filter(pick);
  if (chosen.length === 0) return { records: [], read: new Set() };
  // The whole image's inventory (its record, when it has one, is of all its layers), kept for the
  // chosen layers; only those are read where their annotations are plain.
  const digests = new Set(chosen.map((i) => layers[i].digest));
  const inventory = await readInventory(image, where, { complete: (l) => digests.has(l.digest) });
  const packages = inventory.packages.filter((p) => chosen.includes(p.layer.index));
  const records = packages.map(recordOf);
  const read = new Set(packages.filter((p) => p.from !== "annotation").map((p) => p.layer.index));
  return { records, read };
}

/**
 * The records of the layers `isNew` picks (by index), read as cheaply as the image allows: a
 * strata image's (`strata`, see package-source.ts) from its record or annotations, but the layers `mustRead` picks (annotations that another
 * image's contradict) from their bytes.
 */
export async function readNewLayerRecords(
  original: Image,
  where: string,
  strata: boolean,
  isNew: (index: number) => boolean,
  mustRead: (index: number) => boolean = () => false,
): Promise<NewLayerListings> {
  const image = boundedLayers(original, where);
  const layers = image.manifest.layers;
  const records: DpkgListing[] = [];
  const read = new Set<number>();
  if (strata) {
    // Only the new layers' annotations are parsed (the known ones' packages are stored already).
    const annotated = await annotatedRecords(image, where, (i) => isNew(i) && !mustRead(i));
    records.push(...annotated.records);
    for (const i of annotated.read) read.add(i);
  }
  // Each layer alone, so that what it lists is known apart from what the layers above it hide.
  for (const index of layers.keys()) {
    if (!isNew(index) || (strata && !mustRead(index))) continue;
    const found = await dpkgPackages(image, where, (i) => i === index);
    records.push(...found.map(recordOf));
    read.add(index);
  }
  return { records, read, strata };
}

/**
 * The records a container of the image sees, as dpkg-records.ts reads them: the top layer's record
 * of each path wins, then one package per name and architecture, status.d before status.
 */
export function visibleRecords<T extends DpkgListing>(records: T[]): Set<T> {
  const topLayerOf = new Map<string, number>();
  for (const r of records) topLayerOf.set(r.record, Math.max(topLayerOf.get(r.record) ?? -1, r.layer));
  const shown = records
    .filter((r) => topLayerOf.get(r.record) === r.layer)
    .sort((a, b) => Number(a.record === "status") - Number(b.record === "status") || b.layer - a.layer);
  const byName = new Map<string, T>();
  for (const r of shown) {
    const key = `${r.facts.name}:${r.facts.architecture ?? ""}`;
    if (!byName.has(key)) byName.set(key, r);
  }
  return new Set(byName.values());
}
