import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type Database from "better-sqlite3";
import { StrataError } from "../util/errors.js";
import { type Db, SerialQueue, type SqlValue } from "./db.js";

/** How long a writer waits for another process's transaction before giving up. */
const BUSY_TIMEOUT_MS = 30_000;

function databaseError(where: string, err: unknown): StrataError {
  if (err instanceof StrataError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const busy = /SQLITE_BUSY|database is locked/.test(`${(err as { code?: string }).code} ${message}`);
  return new StrataError("DATABASE", `index ${where}: ${message}`, {
    cause: err,
    hint: busy
      ? "another strata process held the index for too long; try again"
      : "check that the file is a strata index you can write (--index PATH), or move it away to start afresh",
  });
}

/** The statements of one open file; `tx` is the same connection inside a transaction. */
class SqliteDb implements Db {
  readonly dialect = "sqlite" as const;

  constructor(
    private readonly db: Database.Database,
    readonly where: string,
    private readonly queue: SerialQueue | undefined,
    private readonly statements = new Map<string, Database.Statement>(),
  ) {}

  private statement(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  private call<T>(work: () => T): Promise<T> {
    const guarded = async () => {
      try {
        return work();
      } catch (err) {
        throw databaseError(this.where, err);
      }
    };
    return this.queue ? this.queue.run(guarded) : guarded();
  }

  all<T>(sql: string, params: SqlValue[] = []): Promise<T[]> {
    return this.call(() => this.statement(sql).all(...params) as T[]);
  }

  get<T>(sql: string, params: SqlValue[] = []): Promise<T | undefined> {
    return this.call(() => this.statement(sql).get(...params) as T | undefined);
  }

  run(sql: string, params: SqlValue[] = []): Promise<number> {
    return this.call(() => this.statement(sql).run(...params).changes);
  }

  exec(sql: string): Promise<void> {
    return this.call(() => void this.db.exec(sql));
  }

  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T> {
    if (this.queue === undefined) return work(this);
    const tx = new SqliteDb(this.db, this.where, undefined, this.statements);
    return this.queue.run(async () => {
      try {
        // IMMEDIATE takes the write lock first, so two writers queue instead of deadlocking.
        this.db.exec("BEGIN IMMEDIATE");
      } catch (err) {
        throw databaseError(this.where, err);
      }
      try {
        const result = await work(tx);
        this.db.exec("COMMIT");
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw databaseError(this.where, err);
      }
    });
  }

  async close(): Promise<void> {
    await this.queue?.run(async () => this.db.close());
  }
}

/** Opens (making it and its directory if need be) the SQLite index at `path`. */
export async function openSqlite(path: string): Promise<Db> {
  // Loaded here, not at startup: commands that never open the index do not pay for the addon.
  const { default: Database } = await import("better-sqlite3");
  try {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
    // WAL lets readers go on while one process writes; NORMAL sync is durable at each checkpoint.
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    return new SqliteDb(db, path, new SerialQueue());
  } catch (err) {
    throw databaseError(path, err);
  }
}
