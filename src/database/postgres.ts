import type pg from "pg";
import { StrataError } from "../util/errors.js";
import { type Db, SerialQueue, type SqlValue } from "./db.js";

/** No wait for the server lasts longer than these: connecting, and any one statement. */
const CONNECT_TIMEOUT_MS = 10_000;
const STATEMENT_TIMEOUT_MS = 60_000;
/** Deadlock and serialization failures between concurrent writers: the transaction is run again. */
const RETRYABLE = new Set(["40001", "40P01"]);
const ATTEMPTS = 5;

/** The URL as people may see it: never the password. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "postgres://(unparsable URL)";
  }
}

function databaseError(where: string, err: unknown): StrataError {
  if (err instanceof StrataError) return err;
  const message = (err instanceof Error ? err.message : String(err)).split("\n")[0];
  return new StrataError("DATABASE", `index ${where}: ${message || "connection failed"}`, {
    cause: err,
    hint: "check that the PostgreSQL server is running and reachable, and the URL (--index or STRATA_INDEX)",
  });
}

/** `?` placeholders as PostgreSQL numbers them. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** COUNT(*) and BIGINT columns come back as strings by default; every number here fits a double. */
function numericBigints(types: typeof pg.types) {
  return {
    getTypeParser: (oid: number, format?: "text" | "binary") =>
      oid === 20 ? (value: string) => Number(value) : types.getTypeParser(oid, format as "text"),
  };
}

/** What every handle on one connection shares: set when the connection failed. */
interface ConnectionState {
  broken?: StrataError;
}

class PostgresDb implements Db {
  readonly dialect = "postgres" as const;

  constructor(
    private readonly client: pg.Client,
    readonly where: string,
    private readonly queue: SerialQueue | undefined,
    /** Every later call reports a failed connection instead of hanging. */
    private readonly state: ConnectionState,
  ) {}

  private get broken(): StrataError | undefined {
    return this.state.broken;
  }

  private async call<T>(work: () => Promise<T>): Promise<T> {
    const guarded = async () => {
      if (this.broken) throw this.broken;
      try {
        return await work();
      } catch (err) {
        throw databaseError(this.where, err);
      }
    };
    return this.queue ? this.queue.run(guarded) : guarded();
  }

  all<T>(sql: string, params: SqlValue[] = []): Promise<T[]> {
    return this.call(async () => (await this.client.query(numbered(sql), params)).rows as T[]);
  }

  async get<T>(sql: string, params: SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  run(sql: string, params: SqlValue[] = []): Promise<number> {
    return this.call(async () => (await this.client.query(numbered(sql), params)).rowCount ?? 0);
  }

  exec(sql: string): Promise<void> {
    return this.call(async () => void (await this.client.query(sql)));
  }

  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T> {
    if (this.queue === undefined) return work(this);
    const tx = new PostgresDb(this.client, this.where, undefined, this.state);
    return this.queue.run(async () => {
      for (let attempt = 1; ; attempt++) {
        if (this.broken) throw this.broken;
        try {
          await this.client.query("BEGIN");
          const result = await work(tx);
          await this.client.query("COMMIT");
          return result;
        } catch (err) {
          await this.client.query("ROLLBACK").catch(() => undefined);
          const code = (err as { code?: string }).code ?? (err as { cause?: { code?: string } }).cause?.code;
          if (attempt < ATTEMPTS && RETRYABLE.has(code ?? "")) continue;
          throw databaseError(this.where, this.broken ?? err);
        }
      }
    });
  }

  async close(): Promise<void> {
    await this.queue?.run(() => this.client.end().catch(() => undefined));
  }
}

/** Connects to the PostgreSQL database at `url` (postgres:// or postgresql://). */
export async function openPostgres(url: string): Promise<Db> {
  const where = redactedUrl(url);
  // Loaded here, not at startup: commands that never open the index do not pay for it.
  const { default: pg } = await import("pg");
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: STATEMENT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    keepAlive: true,
    types: numericBigints(pg.types),
    application_name: "strata",
  });
  // An error before connect() settles is reported by connect() itself; later ones mark the state.
  const early = () => undefined;
  client.on("error", early);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw databaseError(where, err);
  }
  client.off("error", early);
  const state: ConnectionState = {};
  client.on("error", (err) => {
    state.broken = databaseError(where, err);
  });
  const db = new PostgresDb(client, where, new SerialQueue(), state);
  // Notices (an index that already exists...) are not the user's business.
  await db.exec("SET client_min_messages = warning");
  return db;
}
