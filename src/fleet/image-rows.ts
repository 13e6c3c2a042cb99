import type { Db } from "../database/db.js";
import {
  byIds,
  fleetSelection,
  type IndexedImage,
  type IndexedPackage,
  imagesIn,
  packagesWhere,
  type Selection,
} from "./lookups.js";

/**
 * What the page shows of the index (through FleetIndex's methods): when each
 * image was indexed, its layer stack in order, how many images share each layer, and the packages
 * of many images in one statement. Read-only SQL over the fleet's documented tables and view
 * (src/fleet/schema.ts), the same on SQLite and PostgreSQL.
 */

export interface ImageRow extends IndexedImage {
  id: number;
  /** When it was indexed (ms since the epoch). */
  addedAt: number;
  layers: number;
  /** Layers that at least one other indexed image holds too. */
  sharedLayers: number;
  /** Compressed bytes of those shared layers (0 for layers indexed before sizes were kept). */
  sharedBytes: number;
}

export interface StackLayer {
  position: number;
  digest: string;
  diffId: string;
  /** Compressed bytes; null when indexed before sizes were kept. */
  size: number | null;
  /** How many indexed images hold this layer (this one included). */
  images: number;
  packages: IndexedPackage[];
}

interface LayerCountRow {
  manifest_id: number;
  layers: number;
  shared: number;
  shared_bytes: number;
}

async function layerCounts(db: Db, sel: Selection): Promise<Map<number, LayerCountRow>> {
  const rows = await db.all<LayerCountRow>(
    `SELECT manifest_id, COUNT(*) AS layers, SUM(shared) AS shared,
            SUM(CASE WHEN shared = 1 THEN size ELSE 0 END) AS shared_bytes
       FROM (SELECT ml.manifest_id, COALESCE(l.size, 0) AS size,
                    CASE WHEN EXISTS (SELECT 1 FROM manifest_layers o
                                       WHERE o.layer_id = ml.layer_id AND o.manifest_id <> ml.manifest_id)
                         THEN 1 ELSE 0 END AS shared
               FROM manifest_layers ml JOIN layers l ON l.id = ml.layer_id
              WHERE ml.manifest_id IN (${sel.sql})) per_layer
      GROUP BY manifest_id`,
    sel.params,
  );
  return new Map(rows.map((r) => [Number(r.manifest_id), r]));
}

async function imageRows(db: Db, sel: Selection): Promise<ImageRow[]> {
  const heads = await db.all<{ id: number; digest: string; added_at: number }>(
    `SELECT id, digest, added_at FROM manifests WHERE id IN (${sel.sql})`,
    sel.params,
  );
  if (heads.length === 0) return [];
  const images = new Map([...(await imagesIn(db, sel)).values()].map((i) => [i.digest, i]));
  const counts = await layerCounts(db, sel);
  return heads.flatMap((h) => {
    const image = images.get(h.digest);
    if (image === undefined) return [];
    const count = counts.get(Number(h.id));
    const layers = {
      layers: Number(count?.layers ?? 0),
      sharedLayers: Number(count?.shared ?? 0),
      sharedBytes: Number(count?.shared_bytes ?? 0),
    };
    return [{ id: Number(h.id), ...image, addedAt: Number(h.added_at), ...layers }];
  });
}

/** The indexed images a ref names (with `all`, superseded ones too), newest first. */
export async function fleetImages(db: Db, opts: { all?: boolean } = {}): Promise<ImageRow[]> {
  const rows = await imageRows(db, fleetSelection(opts));
  return rows.sort((a, b) => b.addedAt - a.addedAt || a.digest.localeCompare(b.digest));
}

/** The image with this manifest digest, or undefined. */
export async function imageByDigest(db: Db, digest: string): Promise<ImageRow | undefined> {
  return (await imageRows(db, { sql: "SELECT id FROM manifests WHERE digest = ?", params: [digest] }))[0];
}

/** The visible packages of the selected images, by manifest id, by name (the fleet's own reader). */
export function packagesOfImages(db: Db, sel: Selection): Promise<Map<number, IndexedPackage[]>> {
  return packagesWhere(db, `ip.manifest_id IN (${sel.sql})`, sel.params);
}

/**
 * How many packages each selected image shows, by manifest id: what `packagesOfImages` would list,
 * counted by the database (a package is its row, in its layer, with its .deb's digest).
 */
export async function packageCounts(db: Db, sel: Selection): Promise<Map<number, number>> {
  const rows = await db.all<{ manifest_id: number; n: number }>(
    `SELECT manifest_id, COUNT(*) AS n
       FROM (SELECT DISTINCT ip.manifest_id, ip.package_id, ip.layer_id, ip.deb_sha256
               FROM image_packages ip WHERE ip.manifest_id IN (${sel.sql})) shown
      GROUP BY manifest_id`,
    sel.params,
  );
  return new Map(rows.map((r) => [Number(r.manifest_id), Number(r.n)]));
}

interface LayerRow {
  position: number;
  digest: string;
  diff_id: string;
  size: number | null;
  images: number;
}

/** The fleet's bytes: every image whole, the layers stored once, and the layers several images hold (once each). */
export interface FleetBytes {
  images: number;
  stored: number;
  shared: number;
}

export async function fleetBytes(db: Db): Promise<FleetBytes> {
  const [row] = await db.all<{ images: number; stored: number; shared: number }>(
    `SELECT (SELECT COALESCE(SUM(size), 0) FROM manifests) AS images,
            (SELECT COALESCE(SUM(l.size), 0) FROM layers l
              WHERE EXISTS (SELECT 1 FROM manifest_layers ml WHERE ml.layer_id = l.id)) AS stored,
            (SELECT COALESCE(SUM(l.size), 0) FROM layers l
              WHERE (SELECT COUNT(DISTINCT ml.manifest_id) FROM manifest_layers ml WHERE ml.layer_id = l.id) > 1
            ) AS shared`,
    [],
  );
  return {
    images: Number(row?.images ?? 0),
    stored: Number(row?.stored ?? 0),
    shared: Number(row?.shared ?? 0),
  };
}

/** The image's layers, bottom first, each with the packages a container sees from it. */
export async function layerStack(db: Db, image: ImageRow): Promise<StackLayer[]> {
  const rows = await db.all<LayerRow>(
    `SELECT ml.position, l.digest, l.diff_id, l.size,
            (SELECT COUNT(DISTINCT o.manifest_id) FROM manifest_layers o WHERE o.layer_id = l.id) AS images
       FROM manifest_layers ml JOIN layers l ON l.id = ml.layer_id
      WHERE ml.manifest_id = ? ORDER BY ml.position`,
    [image.id],
  );
  const packages = (await packagesOfImages(db, byIds([image.id]))).get(image.id) ?? [];
  return rows.map((r) => ({
    position: Number(r.position),
    digest: r.digest,
    diffId: r.diff_id,
    size: r.size === null ? null : Number(r.size),
    images: Number(r.images),
    packages: packages.filter((p) => p.layer === r.digest),
  }));
}
