import type { Db } from "../database/db.js";

/** A package as a decision needs it: binary and source, with the architecture VEX products may name. */
export interface InstalledRow {
  name: string;
  version: string;
  architecture: string;
  source: string;
  sourceVersion: string;
}

/** One platform image the index holds, with what a container of it sees. */
export interface IndexedImageContents {
  digest: string;
  builtByStrata: boolean;
  packages: InstalledRow[];
}

interface Row {
  manifest_id: number;
  digest: string;
  packages_from: string;
  name: string | null;
  version: string | null;
  architecture: string | null;
  source: string | null;
  source_version: string | null;
}

/**
 * The images a digest names (itself when it is an indexed image, else the images of an indexed
 * index) with their packages, in one statement: a first review of an image costs one round trip
 * here, however many platforms it has. A package shown by two layers counts once per layer, as
 * `packagesOfImage` counts it, so decisions read the same facts as `check` and `scan`.
 */
export async function imagesUnder(db: Db, digest: string): Promise<IndexedImageContents[]> {
  const rows = await db.all<Row>(
    // The image_packages view spelt out: joined LEFT (an image may hold no package), SQLite would
    // materialise the whole view first.
    `SELECT DISTINCT m.id AS manifest_id, m.digest, m.packages_from, p.name, p.version, p.architecture,
            p.source, p.source_version, l.digest AS layer
       FROM manifests m
       LEFT JOIN manifest_layers ml ON ml.manifest_id = m.id
       LEFT JOIN layer_packages lp ON lp.layer_id = ml.layer_id AND NOT EXISTS (SELECT 1 FROM hidden_packages h
                  WHERE h.manifest_id = m.id AND h.layer_id = lp.layer_id AND h.package_id = lp.package_id)
       LEFT JOIN packages p ON p.id = lp.package_id
       LEFT JOIN layers l ON l.id = lp.layer_id
      WHERE m.id IN (SELECT id FROM manifests WHERE digest = ?
                     UNION SELECT manifest_id FROM refs WHERE top_digest = ?)`,
    [digest, digest],
  );
  const images = new Map<number, IndexedImageContents>();
  for (const r of rows) {
    let image = images.get(r.manifest_id);
    if (image === undefined) {
      image = { digest: r.digest, builtByStrata: r.packages_from === "annotations", packages: [] };
      images.set(r.manifest_id, image);
    }
    if (r.name === null) continue; // an image with no package: its one row has none
    image.packages.push({
      name: r.name,
      version: r.version ?? "",
      architecture: r.architecture ?? "",
      source: r.source || r.name,
      sourceVersion: r.source_version || (r.version ?? ""),
    });
  }
  const list = [...images.values()].sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  for (const image of list)
    image.packages.sort(
      (a, b) => a.name.localeCompare(b.name, "en") || a.architecture.localeCompare(b.architecture, "en"),
    );
  return list;
}

/** The manifest digests a digest names: itself when it is an indexed image, else the images of an indexed index. */
export async function manifestsUnder(db: Db, digest: string): Promise<string[]> {
  const rows = await db.all<{ digest: string }>(
    `SELECT m.digest FROM manifests m WHERE m.digest = ?
     UNION SELECT m.digest FROM refs r JOIN manifests m ON m.id = r.manifest_id WHERE r.top_digest = ?`,
    [digest, digest],
  );
  return rows.map((r) => r.digest);
}

/** Every package some indexed image holds, once (what changelog evidence is derived for). */
export function heldPackages(db: Db): Promise<InstalledRow[]> {
  return db.all<InstalledRow>(
    `SELECT p.name, p.version, p.architecture, p.source, p.source_version AS "sourceVersion" FROM packages p
      WHERE EXISTS (SELECT 1 FROM layer_packages lp WHERE lp.package_id = p.id)`,
  );
}
