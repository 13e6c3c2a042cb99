import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { buildExample, exampleCopy } from "../helpers/examples.js";
import { runImage } from "../helpers/runtime.js";

/**
 * Server images as dpkg would have made them, run for real (network: the host's mirror; root:
 * umoci and runc): the README's PostgreSQL example, with the Essential set for the shell initdb
 * needs, run as the postgres account its package's script makes.
 */
const TIMEOUT = { timeout: 600_000 };
const BIN = "/usr/lib/postgresql/15/bin";

describe("postgresql-15 from the README's example (network: host's mirror; root: runc)", TIMEOUT, () => {
  let out: string;
  before(async () => {
    out = (await buildExample(await exampleCopy("postgresql"))).out;
  });
  after(() => undefined);

  it("initdb and pg_ctl start as user postgres, and psql answers", async () => {
    const script = [
      "set -e",
      `${BIN}/initdb -D /var/lib/postgresql/data > /dev/null`,
      `${BIN}/pg_ctl -D /var/lib/postgresql/data -o "-k /tmp -c listen_addresses=" -w start > /dev/null`,
      `${BIN}/psql -h /tmp -Atc "select current_user, 40 + 2" postgres`,
      `${BIN}/pg_ctl -D /var/lib/postgresql/data -m fast -w stop > /dev/null`,
    ].join("\n");
    const r = await runImage(out, "latest", { args: ["/bin/sh", "-c", script], timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "postgres|42");
  });

  it("/var/run and /var/lock lead to /run as base-files makes them, and a non-root process can lock there", async () => {
    const script =
      "readlink /var/run /var/lock && touch /var/lock/x && ls -ld /run/lock | cut -c1-10 && id -un";
    const r = await runImage(out, "latest", { args: ["/bin/sh", "-c", script] });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), ["/run", "/run/lock", "drwxrwxrwt", "postgres"]);
  });
});
