import { execFile } from "node:child_process";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "./registry.js";

const run = promisify(execFile);
const BIN = "/usr/lib/postgresql/15/bin";

/**
 * A real PostgreSQL 15 of the tests' own: a temp data directory, a socket in it, TCP on loopback
 * only, trust authentication. PostgreSQL refuses to run as root, so initdb and pg_ctl run as the
 * `postgres` user (the Debian package makes it). fsync is off: the tests need speed, not durability.
 */
export interface PostgresServer {
  port: number;
  /** The URL of database `name` (default: postgres). */
  url(name?: string): string;
  /** Makes a fresh, empty database and returns its URL. */
  newDatabase(): Promise<string>;
  /** Stops the server abruptly (as a crash would), keeping the data directory; start() brings it back. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

function asPostgres(command: string, args: string[]) {
  return run("runuser", ["-u", "postgres", "--", join(BIN, command), ...args], { timeout: 120_000 });
}

export async function startPostgres(): Promise<PostgresServer> {
  const dir = await mkdtemp(join(tmpdir(), "strata-pg-"));
  const { uid, gid } = await run("id", ["-u", "postgres"]).then(async (u) => ({
    uid: Number(u.stdout),
    gid: Number((await run("id", ["-g", "postgres"])).stdout),
  }));
  await chown(dir, uid, gid);
  const data = join(dir, "data");
  await asPostgres("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
  const port = await freePort();
  const options = `-k ${dir} -p ${port} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
  const start = () =>
    asPostgres("pg_ctl", ["-D", data, "-l", join(dir, "log"), "-o", options, "-w", "start"]).then(
      () => undefined,
    );
  await start();
  const url = (name = "postgres") => `postgres://postgres@127.0.0.1:${port}/${name}`;
  let databases = 0;
  return {
    port,
    url,
    async newDatabase() {
      const name = `t${process.pid}_${++databases}`;
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      await client.query(`CREATE DATABASE ${name}`);
      await client.end();
      return url(name);
    },
    async kill() {
      await asPostgres("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
    },
    start,
    async stop() {
      await asPostgres("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
