import { type Db, placeholders, type SqlValue } from "./db.js";

/**
 * Reading the index: images by any digest a runtime or registry reports, the packages of an image,
 * every image with its refs, and totals. Each is one or two statements on either database.
 */

export interface IndexedRef {
  /** "" for an image added from a local home (then `repository` names the home). */
  registry: string;
  repository: string;
  /** "" when it was named by digest. */
  tag: string;
}

export interface IndexedImage {
  /** The manifest digest. */
  digest: string;
  /** The config digest: the image ID runtimes report. */
  config: string;
  /** "linux/arm64/v8" */
  platform: string;
  refs: IndexedRef[];
}

export interface IndexedPackage {
  name: string;
  version: string;
  /** "" when unknown. */
  architecture: string;
  source: string;
  sourceVersion: string;
  /** The digest of the layer that holds it. */
  layer: string;
  debSha256?: string;
}

interface ManifestRow {
  id: number;
  digest: string;
  config_digest: string;
  os: string;
  architecture: string;
  variant: string;
}

interface RefRow {
  manifest_id: number;
  registry: string;
  repository: string;
  tag: string;
}

const MANIFEST_COLUMNS = "m.id, m.digest, m.config_digest, m.os, m.architecture, m.variant";
/** Enough values for one statement in both databases (SQLite allows 32766, PostgreSQL 65535). */
const CHUNK = 5000;

/** Runs `sql` (whose IN list is `(@ids)`) over `ids` in chunks. */
export async function allIn<T>(db: Db, sql: string, ids: SqlValue[], before: SqlValue[] = []): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += CHUNK) {
    const chunk = ids.slice(i, i + CHUNK);
    out.push(...(await db.all<T>(sql.replace("@ids", placeholders(chunk.length)), [...before, ...chunk])));
  }
  return out;
}

/** The images of these manifest rows, with their refs, in the rows' order. */
export async function imagesOf(db: Db, rows: ManifestRow[]): Promise<Map<number, IndexedImage>> {
  const refs = await allIn<RefRow>(
    db,
    "SELECT manifest_id, registry, repository, tag FROM refs WHERE manifest_id IN (@ids) ORDER BY registry, repository, tag",
    rows.map((r) => r.id),
  );
  const images = new Map<number, IndexedImage>();
  for (const r of rows) {
    const platform = [r.os, r.architecture, r.variant].filter(Boolean).join("/");
    images.set(r.id, { digest: r.digest, config: r.config_digest, platform, refs: [] });
  }
  for (const ref of refs) {
    images
      .get(ref.manifest_id)
      ?.refs.push({ registry: ref.registry, repository: ref.repository, tag: ref.tag });
  }
  return images;
}

export async function manifestRows(db: Db, ids: number[]): Promise<ManifestRow[]> {
  return allIn<ManifestRow>(
    db,
    `SELECT ${MANIFEST_COLUMNS} FROM manifests m WHERE m.id IN (@ids) ORDER BY m.digest`,
    ids,
  );
}

export type DigestMatch = "manifest" | "config" | "layer";

/** The images a digest names: as their manifest, their config (image ID), or one of their layers (digest or diff_id). */
export async function imagesByDigest(
  db: Db,
  digest: string,
): Promise<{ image: IndexedImage; match: DigestMatch; layer?: string }[]> {
  const direct = await db.all<ManifestRow & { match: DigestMatch }>(
    `SELECT ${MANIFEST_COLUMNS}, CASE WHEN m.digest = ? THEN 'manifest' ELSE 'config' END AS match
       FROM manifests m WHERE m.digest = ? OR m.config_digest = ?`,
    [digest, digest, digest],
  );
  const viaLayer = await db.all<ManifestRow & { layer: string }>(
    `SELECT DISTINCT ${MANIFEST_COLUMNS}, l.digest AS layer
       FROM layers l JOIN manifest_layers ml ON ml.layer_id = l.id JOIN manifests m ON m.id = ml.manifest_id
      WHERE l.digest = ? OR l.diff_id = ?`,
    [digest, digest],
  );
  const images = await imagesOf(db, [...direct, ...viaLayer]);
  return [
    ...direct.map((r) => ({ image: images.get(r.id)!, match: r.match })),
    ...viaLayer.map((r) => ({ image: images.get(r.id)!, match: "layer" as const, layer: r.layer })),
  ];
}

interface PackageRow {
  manifest_id: number;
  name: string;
  version: string;
  architecture: string;
  source: string;
  source_version: string;
  layer: string;
  deb_sha256: string | null;
}

const PACKAGE_COLUMNS =
  "ip.manifest_id, p.name, p.version, p.architecture, p.source, p.source_version, l.digest AS layer, ip.deb_sha256";

export function packageOf(r: PackageRow): IndexedPackage {
  const p: IndexedPackage = {
    name: r.name,
    version: r.version,
    architecture: r.architecture,
    source: r.source,
    sourceVersion: r.source_version,
    layer: r.layer,
  };
  if (r.deb_sha256) p.debSha256 = r.deb_sha256;
  return p;
}

/** The visible packages of the images `manifestIds` (only those of one layer, by digest or diff_id, with `onlyLayer`). */
export async function packagesByImage(
  db: Db,
  manifestIds: number[],
  onlyLayer?: string,
): Promise<Map<number, IndexedPackage[]>> {
  const rows = await allIn<PackageRow>(
    db,
    `SELECT DISTINCT ${PACKAGE_COLUMNS}
       FROM image_packages ip JOIN packages p ON p.id = ip.package_id JOIN layers l ON l.id = ip.layer_id
      WHERE ${onlyLayer ? "(l.digest = ? OR l.diff_id = ?) AND " : ""}ip.manifest_id IN (@ids)
      ORDER BY p.name, p.architecture`,
    manifestIds,
    onlyLayer ? [onlyLayer, onlyLayer] : [],
  );
  const out = new Map<number, IndexedPackage[]>();
  for (const r of rows) {
    const list = out.get(r.manifest_id) ?? [];
    list.push(packageOf(r));
    out.set(r.manifest_id, list);
  }
  return out;
}

/** The packages of the image whose manifest digest is `digest` ([] when it is not indexed). */
export async function packagesOfImage(db: Db, digest: string): Promise<IndexedPackage[]> {
  const row = await db.get<{ id: number }>("SELECT id FROM manifests WHERE digest = ?", [digest]);
  if (row === undefined) return [];
  return (await packagesByImage(db, [row.id])).get(row.id) ?? [];
}

/** Every indexed image with its refs, by manifest digest. */
export async function listImages(db: Db): Promise<IndexedImage[]> {
  const rows = await db.all<ManifestRow>(`SELECT ${MANIFEST_COLUMNS} FROM manifests m ORDER BY m.digest`);
  return [...(await imagesOf(db, rows)).values()];
}

export interface IndexStats {
  images: number;
  refs: number;
  layers: number;
  /** Distinct packages (name, version, architecture, source). */
  packages: number;
  /** Package rows of layers: each layer's packages stored once however many images hold it. */
  layerPackages: number;
  /** Package rows as images see them (what storing per image would have cost). */
  imagePackages: number;
  schemaVersion: number;
}

export async function indexStats(db: Db): Promise<IndexStats> {
  const count = async (sql: string) => Number((await db.get<{ n: number }>(sql))?.n ?? 0);
  return {
    images: await count("SELECT COUNT(*) AS n FROM manifests"),
    refs: await count("SELECT COUNT(*) AS n FROM refs"),
    layers: await count("SELECT COUNT(*) AS n FROM layers"),
    packages: await count("SELECT COUNT(*) AS n FROM packages"),
    layerPackages: await count("SELECT COUNT(*) AS n FROM layer_packages"),
    imagePackages: await count("SELECT COUNT(*) AS n FROM image_packages"),
    schemaVersion: await count("SELECT MAX(version) AS n FROM schema_migrations"),
  };
}
