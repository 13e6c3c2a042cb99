/**
 * One small interface over the two databases the fleet index runs on: better-sqlite3 (embedded,
 * synchronous) and PostgreSQL through `pg`. SQL is written once, with `?` placeholders and the
 * subset both dialects share (ON CONFLICT, RETURNING); the few differences (identity columns) are
 * spelled per dialect in the migrations.
 */

export type Dialect = "sqlite" | "postgres";
export type SqlValue = string | number | null;

export interface Db {
  readonly dialect: Dialect;
  /** Where the database is, as people read it (a file path, or the URL without its password). */
  readonly where: string;
  all<T>(sql: string, params?: SqlValue[]): Promise<T[]>;
  get<T>(sql: string, params?: SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: SqlValue[]): Promise<number>;
  /** Several statements with no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /**
   * Runs `work` in one write transaction: all of it is stored or none. Transactions on one
   * connection run one after another; a conflict with another process is retried whole.
   */
  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** "?, ?, ?" for `n` values. */
export function placeholders(n: number): string {
  return Array.from({ length: n }, () => "?").join(", ");
}

/** Values one statement names: within both databases' limits (SQLite 32766, PostgreSQL 65535). */
export const VALUES_PER_STATEMENT = 5000;

/** `list` in pieces small enough to name in one statement each. */
export function chunked<T>(list: T[], size = VALUES_PER_STATEMENT): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** Runs `sql`, whose IN list is written `(@ids)`, over `ids` in chunks. */
export async function allIn<T>(db: Db, sql: string, ids: SqlValue[], before: SqlValue[] = []): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += VALUES_PER_STATEMENT) {
    const chunk = ids.slice(i, i + VALUES_PER_STATEMENT);
    // Pushed one by one: a spread of a few hundred thousand rows overflows the call stack.
    for (const row of await db.all<T>(sql.replace("@ids", placeholders(chunk.length)), [...before, ...chunk]))
      out.push(row);
  }
  return out;
}

/** Runs one task at a time: a connection holds one transaction at once. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.tail.then(task, task);
    this.tail = next.catch(() => undefined);
    return next;
  }
}
