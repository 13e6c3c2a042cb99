import { join } from "node:path";
import { ADVISORY_MIGRATIONS } from "../advisories/schema.js";
import type { Db } from "../database/db.js";
import type { Migration } from "../database/migrate.js";
import { openDatabase } from "../database/open.js";
import { dataRoot } from "../util/dirs.js";
import { FLEET_MIGRATIONS } from "./schema.js";

/**
 * Where the index is: `--index` (a file path or a postgres:// URL), else $STRATA_INDEX, else the
 * embedded SQLite file under the data directory.
 */
export function indexLocation(flag?: string): string {
  if (flag) return flag;
  if (process.env.STRATA_INDEX) return process.env.STRATA_INDEX;
  return join(dataRoot(), "index.db");
}

/** The index database's tables: the fleet's and the vulnerability data's kept beside them. */
export const INDEX_MIGRATIONS: Migration[] = [...FLEET_MIGRATIONS, ...ADVISORY_MIGRATIONS];

/** Opens the index database at `location`, its schema brought up to date. */
export function openIndexDatabase(location: string): Promise<Db> {
  return openDatabase(location, INDEX_MIGRATIONS);
}
