import { chunked, type Db, placeholders, VALUES_PER_STATEMENT } from "../database/db.js";
import { type VersionOp, versionSatisfies } from "../debian/version.js";
import { StrataError } from "../util/errors.js";
import { SHA256_DIGEST } from "../util/verify.js";
import {
  byIds,
  type DigestMatch,
  type IndexedImage,
  type IndexedPackage,
  imagesByDigest,
  imagesIn,
  packagesWhere,
  type Selection,
  selectionWindow,
} from "./lookups.js";
import { type Page, type PageRequest, type PageWindow, pageWindow, sliceWindow } from "./page.js";

/**
 * `strata query`: which images hold a package (by binary or source name, with a dpkg version
 * relation), everything built from a source, or what a digest names. Versions are compared in code
 * with dpkg's order (src/debian/version.ts), the same on either database: the candidate versions
 * of one name are few, so the database finds them by name and the code keeps those that satisfy.
 */

export type FleetQuery =
  | { kind: "package"; name: string; sourceOnly: boolean; op?: VersionOp; version?: string }
  | { kind: "digest"; digest: string };

export interface QueryAnswer {
  image: IndexedImage;
  /** The packages that matched (for a digest: the image's, or the layer's). */
  packages: IndexedPackage[];
  /** For a digest: what it named. */
  match?: DigestMatch;
}

const OPS: Record<string, VersionOp> = {
  "<<": "<<",
  "<=": "<=",
  "=": "=",
  ">=": ">=",
  ">>": ">>",
  "<": "<<",
  ">": ">>",
};
const NAME = /^[a-z0-9][a-z0-9+.-]*$/;
const VERSION = /^(?:\d{1,9}:)?\d[A-Za-z0-9.+~:-]*$/;
const QUERY = /^(source:)?([^\s<>=()]+)\s*(?:\(?\s*(<<|<=|>=|>>|=|<|>)\s*([^\s()]+)\s*\)?)?$/;

function badQuery(text: string, why: string): StrataError {
  return new StrataError("USAGE", `query "${text.slice(0, 200)}": ${why}`, {
    hint: "write NAME, NAME OP VERSION (OP one of << <= = >= >>, or < > for << >>), source:NAME [OP VERSION] or digest:sha256:HEX",
  });
}

export function parseQuery(text: string): FleetQuery {
  const trimmed = text.trim();
  if (trimmed.startsWith("digest:")) {
    const digest = trimmed.slice("digest:".length);
    if (!SHA256_DIGEST.test(digest)) throw badQuery(text, "the digest must be sha256:<64 lowercase hex>");
    return { kind: "digest", digest };
  }
  const m = QUERY.exec(trimmed);
  if (m === null) throw badQuery(text, "not a query");
  const [, source, name, op, version] = m;
  if (!NAME.test(name)) throw badQuery(text, `"${name.slice(0, 80)}" is not a Debian package name`);
  if (op !== undefined && !VERSION.test(version))
    throw badQuery(text, `"${version.slice(0, 80)}" is not a Debian version`);
  return {
    kind: "package",
    name,
    sourceOnly: source !== undefined,
    op: op === undefined ? undefined : OPS[op],
    version,
  };
}

interface CandidateRow {
  id: number;
  name: string;
  version: string;
  source: string;
  source_version: string;
}

/** The package rows that match: by binary name (its version) or by source name (the source version). */
async function matchingPackageIds(db: Db, q: Extract<FleetQuery, { kind: "package" }>): Promise<number[]> {
  const rows = await db.all<CandidateRow>(
    q.sourceOnly
      ? "SELECT id, name, version, source, source_version FROM packages WHERE source = ?"
      : "SELECT id, name, version, source, source_version FROM packages WHERE name = ? OR source = ?",
    q.sourceOnly ? [q.name] : [q.name, q.name],
  );
  const ok = (version: string) => q.op === undefined || versionSatisfies(version, q.op, q.version!);
  return rows
    .filter(
      (r) =>
        (!q.sourceOnly && r.name === q.name && ok(r.version)) ||
        (r.source === q.name && ok(r.source_version)),
    )
    .map((r) => r.id);
}

/**
 * The ids of the images in the window, of those that show one of the packages `ids`, and how many
 * show one. The database counts and pages; only when the packages are too many to name in one
 * statement (a hostile image's tens of thousands) are the images gathered and ordered here.
 */
async function imagesHolding(
  db: Db,
  ids: number[],
  window: PageWindow,
): Promise<{ ids: number[]; total: number }> {
  if (ids.length === 0) return { ids: [], total: 0 };
  const holding = (chunk: number[]): Selection => ({
    sql: `SELECT ip.manifest_id FROM image_packages ip WHERE ip.package_id IN (${placeholders(chunk.length)})`,
    params: chunk,
  });
  if (ids.length <= VALUES_PER_STATEMENT) return selectionWindow(db, holding(ids), window, true);
  const found = new Set<number>();
  for (const chunk of chunked(ids))
    for (const r of await db.all<{ manifest_id: number }>(holding(chunk).sql, chunk))
      found.add(Number(r.manifest_id));
  const digests: { id: number; digest: string }[] = [];
  for (const chunk of chunked([...found]))
    digests.push(
      ...(await db.all<{ id: number; digest: string }>(
        `SELECT id, digest FROM manifests WHERE id IN (${placeholders(chunk.length)})`,
        chunk,
      )),
    );
  digests.sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0));
  return { ids: sliceWindow(digests, window).map((r) => Number(r.id)), total: found.size };
}

async function packageAnswers(
  db: Db,
  q: Extract<FleetQuery, { kind: "package" }>,
  window: PageWindow,
): Promise<Page<QueryAnswer>> {
  const ids = await matchingPackageIds(db, q);
  const shown = await imagesHolding(db, ids, window);
  const packages = new Map<number, IndexedPackage[]>();
  const images = new Map<number, IndexedImage>();
  for (const pageChunk of chunked(shown.ids)) {
    for (const [id, image] of await imagesIn(db, byIds(pageChunk))) images.set(id, image);
    // One image may hold tens of thousands of packages of one source: asked for in chunks.
    for (const chunk of chunked(ids)) {
      const where = `ip.manifest_id IN (${placeholders(pageChunk.length)}) AND ip.package_id IN (${placeholders(chunk.length)})`;
      for (const [id, list] of await packagesWhere(db, where, [...pageChunk, ...chunk])) {
        const mine = packages.get(id);
        if (mine) mine.push(...list);
        else packages.set(id, list);
      }
    }
  }
  const byName = (a: IndexedPackage, b: IndexedPackage) =>
    a.name.localeCompare(b.name, "en") || a.architecture.localeCompare(b.architecture, "en");
  const items = shown.ids.flatMap((id) => {
    const image = images.get(id);
    return image ? [{ image, packages: (packages.get(id) ?? []).sort(byName) }] : [];
  });
  return { items, total: shown.total, offset: window.offset, limit: window.limit };
}

/**
 * Answers `query` from the index: the window's part of the images that match (by digest), each
 * with the packages that matched, and how many match in all.
 */
export async function runQuery(db: Db, query: FleetQuery, page?: PageRequest): Promise<Page<QueryAnswer>> {
  const window = pageWindow(page);
  return query.kind === "digest"
    ? imagesByDigest(db, query.digest, window)
    : packageAnswers(db, query, window);
}
