import { type Db, placeholders } from "../database/db.js";
import type { Image } from "../oci/image.js";
import { boundedLayers } from "./layer-bounds.js";
import { annotatedRecords, type DpkgListing } from "./layer-records.js";

/**
 * Which stored layers an image's add must read again. A layer's packages are stored once per
 * digest, and a strata image's come from its annotations, which are not bound to the bytes: any
 * image can annotate a popular base layer's digest with packages it does not hold. So annotations
 * are trusted only until contradicted: a stored annotation-derived record is replaced by what the
 * layer's bytes say when another strata image annotates that digest otherwise, or when an image
 * without annotations holds it; a record read from the bytes is never replaced.
 */

/** A package as stored, one string: what two records must share to agree. */
function keyOf(f: DpkgListing["facts"]): string {
  return [f.name, f.version, f.architecture ?? "", f.source ?? "", f.sourceVersion ?? ""].join(" ");
}

/** The stored packages of each layer id, as keys. */
async function storedKeys(db: Db, ids: number[]): Promise<Map<number, Set<string>>> {
  const rows = await db.all<{ layer_id: number } & Record<string, string>>(
    `SELECT lp.layer_id, p.name, p.version, p.architecture, p.source, p.source_version
       FROM layer_packages lp JOIN packages p ON p.id = lp.package_id
      WHERE lp.layer_id IN (${placeholders(ids.length)})`,
    ids,
  );
  const out = new Map<number, Set<string>>(ids.map((id) => [id, new Set()]));
  for (const r of rows) {
    const facts = { ...r, sourceVersion: r.source_version };
    out.get(r.layer_id)?.add(keyOf(facts as unknown as DpkgListing["facts"]));
  }
  return out;
}

const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((k) => b.has(k));

/** The digests of the known layers (their ids in `fromAnnotations`) whose bytes the add must read. */
export async function layersToReread(
  db: Db,
  image: Image,
  where: string,
  fromAnnotations: Map<string, number>,
  strata: boolean,
): Promise<Set<string>> {
  if (fromAnnotations.size === 0) return new Set();
  const layers = image.manifest.layers;
  if (!strata) return new Set(fromAnnotations.keys());
  const mine = await annotatedRecords(boundedLayers(image, where), where, (i) =>
    fromAnnotations.has(layers[i].digest),
  );
  const stored = await storedKeys(db, [...new Set(fromAnnotations.values())]);
  const doubted = new Set<string>();
  for (const [index, layer] of layers.entries()) {
    const id = fromAnnotations.get(layer.digest);
    if (id === undefined) continue;
    const said = new Set(mine.records.filter((r) => r.layer === index).map((r) => keyOf(r.facts)));
    if (!sameSet(said, stored.get(id)!)) doubted.add(layer.digest);
  }
  return doubted;
}
