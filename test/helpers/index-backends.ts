import { join } from "node:path";
import { after, before } from "node:test";
import type { Db } from "../../src/database/db.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { openIndexDatabase } from "../../src/fleet/open.js";
import { tempDir } from "./debs.js";
import { type PostgresServer, startPostgres } from "./postgres.js";

/** One database the fleet index runs on, and how to get a fresh, empty one. */
export interface IndexBackend {
  name: "SQLite" | "PostgreSQL";
  /** A new index location: a SQLite file, or a database of a real PostgreSQL server of the test's own. */
  location(): Promise<string>;
}

/**
 * Both databases for a test file: registers the hooks that start a PostgreSQL server and a temp
 * directory before its tests and stop the server after them. Call it at the file's top level.
 */
export function indexBackends(label: string): {
  backends: IndexBackend[];
  dir(): string;
  pg(): PostgresServer;
} {
  let pg: PostgresServer | undefined;
  let dir = "";
  let files = 0;
  before(async () => {
    [pg, dir] = await Promise.all([startPostgres(), tempDir(label)]);
  });
  after(() => pg?.stop());
  const server = () => {
    if (pg === undefined) throw new Error("the PostgreSQL server is not started yet (use it inside a test)");
    return pg;
  };
  return {
    backends: [
      { name: "SQLite", location: async () => join(dir, `index-${++files}.db`) },
      { name: "PostgreSQL", location: () => server().newDatabase() },
    ],
    dir: () => dir,
    pg: server,
  };
}

/**
 * An index and the database under it, for tests that look at its tables or count its statements
 * (FleetIndex keeps its database to itself).
 */
export async function openIndexWithDb(location: string): Promise<{ index: FleetIndex; db: Db }> {
  const db = await openIndexDatabase(location);
  return { index: FleetIndex.over(db), db };
}
