import type { Db } from "./db.js";
import { type Migration, migrate } from "./migrate.js";
import { openPostgres } from "./postgres.js";
import { openSqlite } from "./sqlite.js";

export function isPostgresUrl(location: string): boolean {
  return /^postgres(?:ql)?:\/\//.test(location);
}

/** Opens the database at `location` (a file path or postgres:// URL) and brings it up to `migrations`. */
export async function openDatabase(location: string, migrations: Migration[]): Promise<Db> {
  const db = isPostgresUrl(location) ? await openPostgres(location) : await openSqlite(location);
  try {
    await migrate(db, migrations);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
