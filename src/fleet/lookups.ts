import { type Db, placeholders, type SqlValue } from "../database/db.js";
import type { Page, PageWindow } from "./page.js";

/**
 * Reading the index: images by any digest a runtime or registry reports, the packages of an image,
 * every image with its refs, and totals. Each is one or two statements on either database.
 */

export interface IndexedRef {
  /** "" for an image added from a local image location (then `repository` names the image location). */
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
  /** Compressed bytes of its config and layers (shared layers counted); null if indexed before sizes were kept. */
  size: number | null;
  refs: IndexedRef[];
  /** No name (ref) is left to it: a tag it had moved on (`update` in place, then `sync`). */
  superseded: boolean;
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
  size: number | null;
}

interface RefRow {
  manifest_id: number;
  registry: string;
  repository: string;
  tag: string;
}

const MANIFEST_COLUMNS = "m.id, m.digest, m.config_digest, m.os, m.architecture, m.variant, m.size";

/**
 * Some images, named by SQL that selects manifest ids (`SELECT id FROM manifests WHERE ...`) and
 * its parameters: the database narrows, so no list of ten thousand ids travels as parameters.
 */
export interface Selection {
  sql: string;
  params: SqlValue[];
}

/** The selected images with their refs, by manifest id, ordered by digest. */
export async function imagesIn(db: Db, sel: Selection): Promise<Map<number, IndexedImage>> {
  const rows = await db.all<ManifestRow>(
    `SELECT ${MANIFEST_COLUMNS} FROM manifests m WHERE m.id IN (${sel.sql}) ORDER BY m.digest`,
    sel.params,
  );
  const refs = await db.all<RefRow>(
    `SELECT manifest_id, registry, repository, tag FROM refs
      WHERE manifest_id IN (${sel.sql}) ORDER BY registry, repository, tag`,
    sel.params,
  );
  const images = new Map<number, IndexedImage>();
  for (const r of rows) {
    const platform = [r.os, r.architecture, r.variant].filter(Boolean).join("/");
    const size = r.size === null ? null : Number(r.size);
    images.set(r.id, {
      digest: r.digest,
      config: r.config_digest,
      platform,
      size,
      refs: [],
      superseded: true,
    });
  }
  for (const ref of refs) {
    const image = images.get(ref.manifest_id);
    if (image === undefined) continue;
    image.refs.push({ registry: ref.registry, repository: ref.repository, tag: ref.tag });
    image.superseded = false;
  }
  return images;
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

function packageOf(r: PackageRow): IndexedPackage {
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

/**
 * The packages images show, by manifest id, where `where` (over `ip` image_packages, `p` packages
 * and `l` layers) holds.
 */
export async function packagesWhere(
  db: Db,
  where: string,
  params: SqlValue[],
): Promise<Map<number, IndexedPackage[]>> {
  const rows = await db.all<PackageRow>(
    `SELECT DISTINCT ip.manifest_id, p.name, p.version, p.architecture, p.source, p.source_version,
            l.digest AS layer, ip.deb_sha256
       FROM image_packages ip JOIN packages p ON p.id = ip.package_id JOIN layers l ON l.id = ip.layer_id
      WHERE ${where}`,
    params,
  );
  const out = new Map<number, IndexedPackage[]>();
  for (const r of rows) {
    const list = out.get(r.manifest_id);
    if (list) list.push(packageOf(r));
    else out.set(r.manifest_id, [packageOf(r)]);
  }
  for (const list of out.values())
    list.sort(
      (a, b) => a.name.localeCompare(b.name, "en") || a.architecture.localeCompare(b.architecture, "en"),
    );
  return out;
}

export type DigestMatch = "manifest" | "config" | "layer";

export interface DigestAnswer {
  image: IndexedImage;
  match: DigestMatch;
  packages: IndexedPackage[];
}

const BY_LAYER_DIGEST = "SELECT id FROM layers WHERE digest = ? OR diff_id = ?";

/**
 * The statement of a window. By default the plain join. `materialize` (a page of images holding
 * packages: joins over every image's layers): the matches and their count first, whole
 * (MATERIALIZED), then the page, because with a small LIMIT in the same query PostgreSQL walks every
 * manifest in digest order probing the matches for each (seconds at 10,000 images).
 */
function windowSql(sel: Selection, window: PageWindow, materialize: boolean): string {
  if (!materialize || window.limit === null)
    return `SELECT m.id, COUNT(*) OVER () AS total FROM manifests m WHERE m.id IN (${sel.sql})
      ORDER BY m.digest LIMIT ? OFFSET ?`;
  return `WITH hits (id) AS MATERIALIZED (${sel.sql}),
     counted AS MATERIALIZED (SELECT m.id, m.digest, COUNT(*) OVER () AS total
                                FROM (SELECT DISTINCT id FROM hits) h JOIN manifests m ON m.id = h.id)
     SELECT id, total FROM counted ORDER BY digest LIMIT ? OFFSET ?`;
}

/**
 * The ids of the selected images in the window (ordered by digest), and how many there are in all:
 * one statement counts and pages (a window count), so the matches are found once. Only a window
 * past the end, which gets no row to carry the count, asks for the count alone.
 */
export async function selectionWindow(
  db: Db,
  sel: Selection,
  window: PageWindow,
  materialize = false,
): Promise<{ ids: number[]; total: number }> {
  const rows = await db.all<{ id: number; total: number }>(windowSql(sel, window, materialize), [
    ...sel.params,
    window.sqlLimit,
    window.offset,
  ]);
  if (rows.length > 0) return { ids: rows.map((r) => Number(r.id)), total: Number(rows[0].total) };
  if (window.offset === 0 && window.sqlLimit > 0) return { ids: [], total: 0 };
  const counted = await db.get<{ n: number }>(
    `SELECT COUNT(*) AS n FROM manifests m WHERE m.id IN (${sel.sql})`,
    sel.params,
  );
  return { ids: [], total: Number(counted?.n ?? 0) };
}

/** The images with these manifest ids (a page's: few), by id. */
export function byIds(ids: number[]): Selection {
  return { sql: `SELECT id FROM manifests WHERE id IN (${placeholders(ids.length)})`, params: ids };
}

/**
 * The images a digest names, in the window: first as their manifest or config (image ID), then
 * as one of their layers (digest or diff_id), each part by digest; with the image's packages, or
 * the layer's. A base layer's digest names most of a fleet: only the window's images are read.
 */
export async function imagesByDigest(
  db: Db,
  digest: string,
  window: PageWindow,
): Promise<Page<DigestAnswer>> {
  const direct: Selection = {
    sql: "SELECT id FROM manifests WHERE digest = ? OR config_digest = ?",
    params: [digest, digest],
  };
  const viaLayer: Selection = {
    sql: `SELECT manifest_id FROM manifest_layers WHERE layer_id IN (${BY_LAYER_DIGEST})`,
    params: [digest, digest],
  };
  const first = await selectionWindow(db, direct, window);
  const skipped = Math.max(0, window.offset - first.total);
  const rest = { offset: skipped, sqlLimit: Math.max(0, window.sqlLimit - first.ids.length), limit: null };
  const second = await selectionWindow(db, viaLayer, rest);
  const items: DigestAnswer[] = [];
  if (first.ids.length > 0) {
    const images = await imagesIn(db, byIds(first.ids));
    const packages = await packagesWhere(
      db,
      `ip.manifest_id IN (${placeholders(first.ids.length)})`,
      first.ids,
    );
    for (const [id, image] of images) {
      const match: DigestMatch = image.digest === digest ? "manifest" : "config";
      items.push({ image, match, packages: packages.get(id) ?? [] });
    }
  }
  if (second.ids.length > 0) {
    const images = await imagesIn(db, byIds(second.ids));
    const packages = await packagesWhere(
      db,
      `ip.layer_id IN (${BY_LAYER_DIGEST}) AND ip.manifest_id IN (${placeholders(second.ids.length)})`,
      [digest, digest, ...second.ids],
    );
    for (const [id, image] of images) items.push({ image, match: "layer", packages: packages.get(id) ?? [] });
  }
  return { items, total: first.total + second.total, offset: window.offset, limit: window.limit };
}

/** The packages of the image whose manifest digest is `digest` ([] when it is not indexed). */
export async function packagesOfImage(db: Db, digest: string): Promise<IndexedPackage[]> {
  const found = await packagesWhere(db, "ip.manifest_id IN (SELECT id FROM manifests WHERE digest = ?)", [
    digest,
  ]);
  return [...found.values()][0] ?? [];
}

/**
 * Superseded images: manifests no ref names any more. A ref is all that ties an image to a place
 * (a tag, a digest it was added by, a local image location), so an image with none is one a tag moved away
 * from; it stays, marked, until `index prune`, for what still runs it (`ps`) and its runs.
 */
export const SUPERSEDED_IMAGES: Selection = {
  sql: "SELECT id FROM manifests m WHERE NOT EXISTS (SELECT 1 FROM refs r WHERE r.manifest_id = m.id)",
  params: [],
};
export const CURRENT_IMAGES: Selection = {
  sql: "SELECT id FROM manifests m WHERE EXISTS (SELECT 1 FROM refs r WHERE r.manifest_id = m.id)",
  params: [],
};
export const ALL_IMAGES: Selection = { sql: "SELECT id FROM manifests", params: [] };

/** What fleet views show: the images a ref names, or with `all` the superseded ones too. */
export function fleetSelection(opts: { all?: boolean } = {}): Selection {
  return opts.all ? ALL_IMAGES : CURRENT_IMAGES;
}

/** The indexed images with their refs, by manifest digest: those a ref names, or `all`. */
export async function listImages(db: Db, opts: { all?: boolean } = {}): Promise<IndexedImage[]> {
  return [...(await imagesIn(db, fleetSelection(opts))).values()];
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
  /** Compressed bytes of the layers, each stored once however many images hold it. */
  layerBytes: number;
  /** Compressed bytes of every image whole (config and layers), as if no layer were shared. */
  imageBytes: number;
  /** Images and layers indexed before sizes were kept (not in the byte counts until seen again). */
  unsizedImages: number;
  unsizedLayers: number;
  /** Images no ref names any more (in `images`; `index prune` removes them). */
  superseded: number;
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
    layerBytes: await count("SELECT COALESCE(SUM(size), 0) AS n FROM layers"),
    imageBytes: await count("SELECT COALESCE(SUM(size), 0) AS n FROM manifests"),
    unsizedImages: await count("SELECT COUNT(*) AS n FROM manifests WHERE size IS NULL"),
    unsizedLayers: await count("SELECT COUNT(*) AS n FROM layers WHERE size IS NULL"),
    superseded: await count(`SELECT COUNT(*) AS n FROM (${SUPERSEDED_IMAGES.sql}) s`),
    schemaVersion: await count("SELECT MAX(version) AS n FROM schema_migrations"),
  };
}
