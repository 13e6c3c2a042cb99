import type { Db } from "../fleet/db.js";
import type { FleetIndex } from "../fleet/fleet-index.js";
import {
  allIn,
  type IndexedImage,
  type IndexedPackage,
  imagesOf,
  manifestRows,
  packagesByImage,
} from "../fleet/lookups.js";

/**
 * What the page shows of the index that the fleet API does not hand out whole: when each image was
 * indexed, its layer stack in order, and how many images share each layer. Read-only SQL over the
 * fleet's tables (src/fleet/schema.ts), the same on SQLite and PostgreSQL.
 */

export interface ImageRow extends IndexedImage {
  id: number;
  /** When it was indexed (ms since the epoch). */
  addedAt: number;
  layers: number;
  /** Layers that at least one other indexed image holds too. */
  sharedLayers: number;
}

export interface StackLayer {
  position: number;
  digest: string;
  diffId: string;
  /** How many indexed images hold this layer (this one included). */
  images: number;
  packages: IndexedPackage[];
}

interface LayerCountRow {
  manifest_id: number;
  layers: number;
  shared: number;
}

async function layerCounts(db: Db, ids: number[]): Promise<Map<number, LayerCountRow>> {
  const rows = await allIn<LayerCountRow>(
    db,
    `SELECT ml.manifest_id, COUNT(*) AS layers,
            SUM(CASE WHEN EXISTS (SELECT 1 FROM manifest_layers o
                                   WHERE o.layer_id = ml.layer_id AND o.manifest_id <> ml.manifest_id)
                     THEN 1 ELSE 0 END) AS shared
       FROM manifest_layers ml WHERE ml.manifest_id IN (@ids) GROUP BY ml.manifest_id`,
    ids,
  );
  return new Map(rows.map((r) => [r.manifest_id, r]));
}

async function imageRows(db: Db, where: string, params: (string | number)[]): Promise<ImageRow[]> {
  const heads = await db.all<{ id: number; added_at: number }>(
    `SELECT id, added_at FROM manifests ${where}`,
    params,
  );
  if (heads.length === 0) return [];
  const ids = heads.map((h) => h.id);
  const images = await imagesOf(db, await manifestRows(db, ids));
  const counts = await layerCounts(db, ids);
  return heads.map((h) => ({
    id: h.id,
    ...images.get(h.id)!,
    addedAt: Number(h.added_at),
    layers: Number(counts.get(h.id)?.layers ?? 0),
    sharedLayers: Number(counts.get(h.id)?.shared ?? 0),
  }));
}

/** Every indexed image, newest first. */
export async function fleetImages(index: FleetIndex): Promise<ImageRow[]> {
  const rows = await imageRows(index.db, "", []);
  return rows.sort((a, b) => b.addedAt - a.addedAt || a.digest.localeCompare(b.digest));
}

/** The image with this manifest digest, or undefined. */
export async function imageByDigest(index: FleetIndex, digest: string): Promise<ImageRow | undefined> {
  return (await imageRows(index.db, "WHERE digest = ?", [digest]))[0];
}

/** The visible packages of these images, by manifest id. */
export function packagesOfImages(index: FleetIndex, ids: number[]): Promise<Map<number, IndexedPackage[]>> {
  return packagesByImage(index.db, ids);
}

/** The image's layers, bottom first, each with the packages a container sees from it. */
export async function layerStack(index: FleetIndex, image: ImageRow): Promise<StackLayer[]> {
  const rows = await index.db.all<{ position: number; digest: string; diff_id: string; images: number }>(
    `SELECT ml.position, l.digest, l.diff_id,
            (SELECT COUNT(DISTINCT o.manifest_id) FROM manifest_layers o WHERE o.layer_id = l.id) AS images
       FROM manifest_layers ml JOIN layers l ON l.id = ml.layer_id
      WHERE ml.manifest_id = ? ORDER BY ml.position`,
    [image.id],
  );
  const packages = (await packagesOfImages(index, [image.id])).get(image.id) ?? [];
  return rows.map((r) => ({
    position: Number(r.position),
    digest: r.digest,
    diffId: r.diff_id,
    images: Number(r.images),
    packages: packages.filter((p) => p.layer === r.digest),
  }));
}
