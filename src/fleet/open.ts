import { join } from "node:path";
import { dataRoot } from "../util/dirs.js";
import type { Db } from "./db.js";
import { openPostgres } from "./postgres.js";
import { migrate } from "./schema.js";
import { openSqlite } from "./sqlite.js";

/**
 * Where the index is: `--index` (a file path or a postgres:// URL), else $STRATA_INDEX, else the
 * embedded SQLite file under the data directory.
 */
export function indexLocation(flag?: string): string {
  if (flag) return flag;
  if (process.env.STRATA_INDEX) return process.env.STRATA_INDEX;
  return join(dataRoot(), "index.db");
}

export function isPostgresUrl(location: string): boolean {
  return /^postgres(?:ql)?:\/\//.test(location);
}

/** Opens the database at `location` and brings its schema up to date. */
export async function openDatabase(location: string): Promise<Db> {
  const db = isPostgresUrl(location) ? await openPostgres(location) : await openSqlite(location);
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
