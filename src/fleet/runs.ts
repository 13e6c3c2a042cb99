import { type Db, placeholders } from "../database/db.js";

/**
 * What ran: one row per `strata run`, keyed by the image's manifest digest (a tag is resolved
 * first), so a run is joined with the index's packages and advisories whatever the image was
 * called. Runs are kept when their image leaves the index.
 */

export type RunOutcome = "exited" | "timeout" | "oom" | "signal";

export interface RunRecord {
  id: string;
  name: string;
  /** The location as given (`oci:/srv/app:1`, `docker://…`). */
  image: string;
  digest: string;
  platform: string;
  args: string[];
  /** The process's user in the container (`uid:gid`). */
  user: string;
  /** Who started the run on the host. */
  runBy: string;
  startedAt: number;
  endedAt: number;
  exitCode: number;
  outcome: RunOutcome;
  peakMemoryBytes: number | null;
}

/** What `strata ps` and the page call recent: a week. */
export const RECENT_RUNS_MS = 7 * 24 * 3_600_000;

export interface RunsWhere {
  /** Only runs of these manifest digests. */
  digests?: string[];
  /** Only runs started at or after this time (ms). */
  since?: number;
  limit?: number;
}

export const RUNS_MIGRATION = {
  version: 4,
  name: "what strata run ran",
  sql: `
CREATE TABLE runs (
  id {{id}},
  run_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  image TEXT NOT NULL,
  manifest_digest TEXT NOT NULL,
  platform TEXT NOT NULL,
  args TEXT NOT NULL, -- JSON array of strings
  process_user TEXT NOT NULL,
  run_by TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  ended_at BIGINT NOT NULL,
  exit_code INTEGER NOT NULL,
  outcome TEXT NOT NULL, -- 'exited', 'timeout', 'oom' or 'signal'
  peak_memory BIGINT
);
CREATE INDEX runs_manifest ON runs (manifest_digest, started_at);
CREATE INDEX runs_started ON runs (started_at);
`,
};

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;

export async function recordRun(db: Db, r: RunRecord): Promise<void> {
  await db.run(
    `INSERT INTO runs (run_id, name, image, manifest_digest, platform, args, process_user, run_by,
                       started_at, ended_at, exit_code, outcome, peak_memory)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      r.id,
      r.name,
      r.image,
      r.digest,
      r.platform,
      JSON.stringify(r.args),
      r.user,
      r.runBy,
      r.startedAt,
      r.endedAt,
      r.exitCode,
      r.outcome,
      r.peakMemoryBytes,
    ],
  );
}

interface RunRow {
  run_id: string;
  name: string;
  image: string;
  manifest_digest: string;
  platform: string;
  args: string;
  process_user: string;
  run_by: string;
  started_at: number | string;
  ended_at: number | string;
  exit_code: number;
  outcome: RunOutcome;
  peak_memory: number | string | null;
}

function fromRow(row: RunRow): RunRecord {
  return {
    id: row.run_id,
    name: row.name,
    image: row.image,
    digest: row.manifest_digest,
    platform: row.platform,
    args: JSON.parse(row.args) as string[],
    user: row.process_user,
    runBy: row.run_by,
    startedAt: Number(row.started_at),
    endedAt: Number(row.ended_at),
    exitCode: Number(row.exit_code),
    outcome: row.outcome,
    peakMemoryBytes: row.peak_memory === null ? null : Number(row.peak_memory),
  };
}

/** Runs, newest first. */
export async function listRuns(db: Db, where: RunsWhere = {}): Promise<RunRecord[]> {
  const clauses: string[] = [];
  const params: (string | number)[] = [];
  if (where.digests !== undefined) {
    if (where.digests.length === 0) return [];
    clauses.push(`manifest_digest IN (${placeholders(where.digests.length)})`);
    params.push(...where.digests);
  }
  if (where.since !== undefined) {
    clauses.push("started_at >= ?");
    params.push(where.since);
  }
  const limit = Math.min(Math.max(1, where.limit ?? DEFAULT_LIMIT), MAX_LIMIT);
  const rows = await db.all<RunRow>(
    `SELECT * FROM runs ${clauses.length > 0 ? `WHERE ${clauses.join(" AND ")}` : ""}
      ORDER BY started_at DESC, id DESC LIMIT ${limit}`,
    params,
  );
  return rows.map(fromRow);
}
