import { type VersionOp, versionSatisfies } from "../debian/version.js";
import { StrataError } from "../util/errors.js";
import { SHA256_DIGEST } from "../util/verify.js";
import { type Db, placeholders } from "./db.js";
import {
  type DigestMatch,
  type IndexedImage,
  type IndexedPackage,
  imagesByDigest,
  imagesIn,
  packagesWhere,
} from "./lookups.js";

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

/** Package ids one statement names: within both databases' limits on values (SQLite 32766). */
const IDS_PER_STATEMENT = 5000;

async function packageAnswers(db: Db, q: Extract<FleetQuery, { kind: "package" }>): Promise<QueryAnswer[]> {
  const ids = await matchingPackageIds(db, q);
  const packages = new Map<number, IndexedPackage[]>();
  const images = new Map<number, IndexedImage>();
  // One image may hold tens of thousands of packages of one source: asked for in chunks.
  for (let i = 0; i < ids.length; i += IDS_PER_STATEMENT) {
    const chunk = ids.slice(i, i + IDS_PER_STATEMENT);
    const holding = `ip.package_id IN (${placeholders(chunk.length)})`;
    for (const [id, list] of await packagesWhere(db, holding, chunk)) {
      const mine = packages.get(id);
      if (mine) for (const p of list) mine.push(p);
      else packages.set(id, list);
    }
    const sel = { sql: `SELECT ip.manifest_id FROM image_packages ip WHERE ${holding}`, params: chunk };
    for (const [id, image] of await imagesIn(db, sel)) images.set(id, image);
  }
  const byName = (a: IndexedPackage, b: IndexedPackage) =>
    a.name.localeCompare(b.name, "en") || a.architecture.localeCompare(b.architecture, "en");
  return [...images]
    .sort(([, a], [, b]) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0))
    .map(([id, image]) => ({ image, packages: (packages.get(id) ?? []).sort(byName) }));
}

/** Answers `query` from the index: the images that match, each with the packages that matched. */
export async function runQuery(db: Db, query: FleetQuery): Promise<QueryAnswer[]> {
  return query.kind === "digest" ? imagesByDigest(db, query.digest) : packageAnswers(db, query);
}
