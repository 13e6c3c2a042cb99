import { allIn, type Db, placeholders, type SqlValue } from "../database/db.js";
import { countChange } from "../database/generations.js";
import type { Advisory, AdvisoryOrigin, AdvisoryStatus } from "./advisory.js";
import { type Coverage, feedCoverage } from "./coverage.js";
import type { Available } from "./match.js";
import type { Severity } from "./severity.js";
import type { AdvisorySource } from "./source.js";

/**
 * Advisories kept in the fleet index, one feed at a time: storing a feed again replaces what it
 * said before (a tracker dump is whole; a newer one supersedes it), all or nothing.
 */
export interface StoredFeed {
  location: string;
  kind: AdvisoryOrigin;
  date: string;
  storedAt: number;
  advisories: number;
}

/** A version the repositories offered for a binary package, when evidence was last derived. */
export interface RepositoryVersion extends Available {
  name: string;
  architecture: string;
}

const ROWS_PER_INSERT = 400;

async function insertRows(tx: Db, table: string, columns: string[], rows: SqlValue[][]): Promise<void> {
  const one = `(${placeholders(columns.length)})`;
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) {
    const chunk = rows.slice(i, i + ROWS_PER_INSERT);
    await tx.run(
      `INSERT INTO ${table} (${columns.join(", ")}) VALUES ${chunk.map(() => one).join(", ")}`,
      chunk.flat(),
    );
  }
}

/** The feed row for `location`, emptied of what it said before (made when new). */
async function freshFeed(tx: Db, feed: Omit<StoredFeed, "storedAt">): Promise<number> {
  const row = await tx.get<{ id: number }>(
    `INSERT INTO advisory_feeds (location, kind, feed_date, stored_at, advisories) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (location) DO UPDATE SET kind = excluded.kind, feed_date = excluded.feed_date,
       stored_at = excluded.stored_at, advisories = excluded.advisories
     RETURNING id`,
    [feed.location, feed.kind, feed.date, Date.now(), feed.advisories],
  );
  const id = Number(row!.id);
  await tx.run("DELETE FROM advisories WHERE feed_id = ?", [id]);
  await tx.run("DELETE FROM repository_versions WHERE feed_id = ?", [id]);
  await tx.run("DELETE FROM advisory_coverage WHERE feed_id = ?", [id]);
  return id;
}

const ADVISORY_COLUMNS = [
  "feed_id",
  "advisory",
  "source",
  "debian_release",
  "status",
  "fixed_version",
  "introduced_version",
  "severity",
  "nodsa",
  "available_in",
  "fixed_since",
];

function advisoryRow(feedId: number, a: Advisory): SqlValue[] {
  return [
    feedId,
    a.id,
    a.source,
    a.release,
    a.status,
    a.fixedVersion ?? null,
    a.introducedVersion ?? null,
    a.severity,
    a.noDsa ?? null,
    a.availableIn ?? null,
    a.fixedSince ?? null,
  ];
}

/**
 * Stores a feed's advisories (and, for changelog evidence, the versions offered), replacing its
 * last ones. `covers` is what it speaks for: by default the releases its advisories name (a feed
 * is whole for each release it has); changelog evidence names its release and suites even when it
 * found nothing, since "nothing" is then an answer.
 */
async function storeAdvisories(
  db: Db,
  feed: { location: string; kind: AdvisoryOrigin; date: string },
  advisories: Advisory[],
  versions: RepositoryVersion[] = [],
  covers: Coverage[] = feedCoverage(feed.location, feed.kind, advisories),
): Promise<void> {
  await db.transaction(async (tx) => {
    const id = await freshFeed(tx, { ...feed, advisories: advisories.length });
    await insertRows(
      tx,
      "advisories",
      ADVISORY_COLUMNS,
      advisories.map((a) => advisoryRow(id, a)),
    );
    await insertRows(
      tx,
      "repository_versions",
      ["feed_id", "name", "architecture", "version", "source_version", "suite"],
      versions.map((v) => [id, v.name, v.architecture, v.version, v.sourceVersion, v.suite]),
    );
    await insertRows(
      tx,
      "advisory_coverage",
      ["feed_id", "debian_release", "suites"],
      covers.map((c) => [id, c.release, c.suites.join(" ")]),
    );
    await countChange(tx, "advisories");
  });
}

async function coverageOf(db: Db, release: string): Promise<Coverage[]> {
  const rows = await db.all<{ location: string; kind: AdvisoryOrigin; suites: string }>(
    `SELECT f.location, f.kind, c.suites FROM advisory_coverage c JOIN advisory_feeds f ON f.id = c.feed_id
      WHERE c.debian_release = ? ORDER BY f.location`,
    [release],
  );
  return rows.map((r) => ({
    release,
    location: r.location,
    kind: r.kind,
    suites: r.suites.split(" ").filter(Boolean),
  }));
}

interface AdvisoryRow {
  advisory: string;
  source: string;
  debian_release: string;
  status: AdvisoryStatus;
  fixed_version: string | null;
  introduced_version: string | null;
  severity: Severity;
  nodsa: string | null;
  available_in: string | null;
  fixed_since: string | null;
  kind: AdvisoryOrigin;
}

function advisoryOf(r: AdvisoryRow): Advisory {
  const a: Advisory = {
    id: r.advisory,
    source: r.source,
    release: r.debian_release,
    status: r.status,
    severity: r.severity,
    origin: r.kind,
  };
  if (r.fixed_version !== null) a.fixedVersion = r.fixed_version;
  if (r.introduced_version !== null) a.introducedVersion = r.introduced_version;
  if (r.nodsa !== null) a.noDsa = r.nodsa;
  if (r.available_in !== null) a.availableIn = r.available_in;
  if (r.fixed_since !== null) a.fixedSince = r.fixed_since;
  return a;
}

const SELECT_ADVISORIES = `SELECT a.advisory, a.source, a.debian_release, a.status, a.fixed_version, a.introduced_version,
  a.severity, a.nodsa, a.available_in, a.fixed_since, f.kind
  FROM advisories a JOIN advisory_feeds f ON f.id = a.feed_id`;

/** Every stored advisory about these source packages in `release`. */
async function advisoriesFor(db: Db, release: string, sources: string[]): Promise<Advisory[]> {
  const unique = [...new Set(sources)];
  const rows = await allIn<AdvisoryRow>(
    db,
    `${SELECT_ADVISORIES} WHERE a.debian_release = ? AND a.source IN (@ids)`,
    unique,
    [release],
  );
  return rows.map(advisoryOf);
}

/** Every stored advisory of `release` (a whole-fleet scan reads them once). */
async function advisoriesOfRelease(db: Db, release: string): Promise<Advisory[]> {
  return (await db.all<AdvisoryRow>(`${SELECT_ADVISORIES} WHERE a.debian_release = ?`, [release])).map(
    advisoryOf,
  );
}

/** The newest version the repositories offered for each of these binary packages, when evidence was derived. */
async function storedVersions(db: Db, names: string[]): Promise<Map<string, Available>> {
  const rows = await allIn<{ name: string; version: string; source_version: string; suite: string }>(
    db,
    "SELECT name, version, source_version, suite FROM repository_versions WHERE name IN (@ids)",
    [...new Set(names)],
  );
  return new Map(
    rows.map((r) => [r.name, { version: r.version, sourceVersion: r.source_version, suite: r.suite }]),
  );
}

async function storedFeeds(db: Db): Promise<StoredFeed[]> {
  const rows = await db.all<{
    location: string;
    kind: AdvisoryOrigin;
    feed_date: string;
    stored_at: number;
    advisories: number;
  }>("SELECT location, kind, feed_date, stored_at, advisories FROM advisory_feeds ORDER BY location");
  return rows.map((r) => ({
    location: r.location,
    kind: r.kind,
    date: r.feed_date,
    storedAt: Number(r.stored_at),
    advisories: Number(r.advisories),
  }));
}

/**
 * The vulnerability data's tables in a database (advisories/schema.ts): the one way other modules
 * read and write them. It is an AdvisorySource, so checks, scans and the webhook read it as they
 * read feeds in memory.
 */
export class AdvisoryStore implements AdvisorySource {
  constructor(private readonly db: Db) {}

  /** Stores a feed, replacing what it said before (see storeAdvisories). */
  store(
    feed: { location: string; kind: AdvisoryOrigin; date: string },
    advisories: Advisory[],
    versions: RepositoryVersion[] = [],
    covers?: Coverage[],
  ): Promise<void> {
    return storeAdvisories(this.db, feed, advisories, versions, covers);
  }

  /** Every stored advisory about these source packages in `release`. */
  advisories(release: string, sources: string[]): Promise<Advisory[]> {
    return advisoriesFor(this.db, release, sources);
  }

  /** Every stored advisory of `release` (a whole-fleet scan reads them once). */
  ofRelease(release: string): Promise<Advisory[]> {
    return advisoriesOfRelease(this.db, release);
  }

  available(names: string[]): Promise<Map<string, Available>> {
    return storedVersions(this.db, names);
  }

  coverage(release: string): Promise<Coverage[]> {
    return coverageOf(this.db, release);
  }

  feeds(): Promise<StoredFeed[]> {
    return storedFeeds(this.db);
  }
}
