import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import type { Page } from "../../src/fleet/page.js";
import type { QueryAnswer } from "../../src/fleet/query.js";
import { type SyncEvent, syncRegistry } from "../../src/fleet/sync.js";
import { runStrata } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import type { FakeRepo } from "../helpers/fake-repo.js";
import { buildAndPush, droppingProxy, fleetRepo } from "../helpers/fleet-registry.js";
import { openIndexWithDb } from "../helpers/index-backends.js";
import { type PostgresServer, startPostgres } from "../helpers/postgres.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";

/**
 * `strata index sync` against a real docker-registry on loopback holding strata images built by the
 * CLI from a signed fake repository, on SQLite and on a real PostgreSQL.
 */

let dir: string;
let repo: FakeRepo;
let registry: RegistryServer;
let pg: PostgresServer;

const TAGS = ["app-a:1", "app-b:1", "app-b:latest", "app-c:1"];

before(async () => {
  dir = await tempDir("fleet-e2e");
  [repo, registry, pg] = await Promise.all([
    fleetRepo(dir, [
      { name: "libssl3", version: "3.0.11-1~deb12u2", source: "openssl" },
      { name: "libc6", version: "2.36-9+deb12u4", source: "glibc" },
      { name: "app-a", version: "1.0" },
      { name: "app-b", version: "2.0" },
      { name: "app-c", version: "3.0" },
      { name: "app-d", version: "1.0" },
    ]),
    startRegistry(),
    startPostgres(),
  ]);
  await buildAndPush(repo, dir, ["app-a", "libssl3"], [`${registry.host}/app-a:1`]);
  await buildAndPush(
    repo,
    dir,
    ["app-b", "libc6"],
    [`${registry.host}/app-b:1`, `${registry.host}/app-b:latest`],
  );
  await buildAndPush(repo, dir, ["app-c", "libssl3"], [`${registry.host}/app-c:1`]);
});

after(async () => {
  await Promise.all([repo?.close(), registry?.close(), pg?.stop()]);
});

interface ServedManifest {
  config: { size: number };
  layers: { size: number }[];
}

/** A manifest as the registry serves it, by digest. */
async function manifestServed(repository: string, digest: string): Promise<ServedManifest> {
  const res = await fetch(`http://${registry.host}/v2/${repository}/manifests/${digest}`, {
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    signal: AbortSignal.timeout(10_000),
  });
  assert.equal(res.status, 200);
  return (await res.json()) as ServedManifest;
}

const names = ({ items }: Page<QueryAnswer>) =>
  items.flatMap((a) => a.image.refs.map((r) => `${r.repository}:${r.tag}`)).sort();

describe("the fleet index syncs a real registry (docker-registry, PostgreSQL, the built CLI)", () => {
  for (const backend of ["SQLite", "PostgreSQL"]) {
    test(`sync indexes every repository and tag, query finds them, and a second sync reads only listings (${backend})`, async () => {
      const index = backend === "SQLite" ? join(dir, "index.db") : await pg.newDatabase();
      const cli = (...args: string[]) => runStrata([...args, "--index", index]);
      const first = await cli("index", "sync", registry.host, "--json");
      assert.equal(first.code, 0, first.stderr);
      const [report] = JSON.parse(first.stdout);
      assert.deepEqual(
        [report.repositories, report.tags, report.indexed, report.unchanged, report.failed],
        [3, 4, 4, 0, 0],
      );
      const { index: opened, db } = await openIndexWithDb(index);
      try {
        assert.deepEqual(names(await opened.query("libssl3 < 3.0.15-1~deb12u1")), ["app-a:1", "app-c:1"]);
        assert.deepEqual(names(await opened.query("libssl3 << 3.0.11-1~deb12u2")), []);
        assert.deepEqual(names(await opened.query("source:glibc")), ["app-b:1", "app-b:latest"]);
        const [image] = (await opened.query("app-a")).items;
        const byConfig = await opened.query(`digest:${image.image.config}`);
        assert.deepEqual(names(byConfig), ["app-a:1"]);
        assert.equal(byConfig.items[0].match, "config");
        assert.deepEqual(image.image.platform, "linux/amd64");
        const served = await manifestServed("app-a", image.image.digest);
        const layerSizes = served.layers.map((l) => l.size);
        assert.equal(
          image.image.size,
          layerSizes.reduce((a, b) => a + b, served.config.size),
          "the config's and layers' sizes as the registry serves them",
        );
        const stored = await db.all<{ size: number }>(
          "SELECT l.size FROM manifest_layers ml JOIN layers l ON l.id = ml.layer_id JOIN manifests m ON m.id = ml.manifest_id WHERE m.digest = ? ORDER BY ml.position",
          [image.image.digest],
        );
        assert.deepEqual(
          stored.map((r) => Number(r.size)),
          layerSizes,
        );
      } finally {
        await opened.close();
      }
      const human = await cli("query", "openssl < 3.0.15-1~deb12u1");
      assert.equal(human.code, 0, human.stderr);
      assert.match(
        human.stdout,
        new RegExp(
          `${registry.host}/app-a:1  linux/amd64  sha256:[0-9a-f]{64}\\n  libssl3:amd64 3\\.0\\.11-1~deb12u2 \\(source openssl 3\\.0\\.11-1~deb12u2\\)`,
        ),
      );
      const second = await cli("index", "sync", registry.host, "--json");
      assert.equal(second.code, 0, second.stderr);
      const [again] = JSON.parse(second.stdout);
      assert.deepEqual([again.indexed, again.unchanged], [0, 4]);
      assert.ok(
        again.bytesRead < report.bytesRead,
        `${again.bytesRead} bytes the second time, ${report.bytesRead} the first`,
      );
      const stats = JSON.parse((await cli("index", "stats", "--json")).stdout);
      assert.deepEqual([stats.images, stats.refs], [3, 4]);
    });
  }

  test("a registry that drops the connection mid-sync: each tag one clear line, and the next sync resumes", async () => {
    let manifestsServed = 0;
    let dropping = true;
    // Hang up on every manifest fetched by digest after the first: one tag gets in, the rest fail.
    const proxy = await droppingProxy(registry.host, (req) => {
      if (req.method !== "GET" || !/\/manifests\/sha256:/.test(req.url ?? "")) return false;
      return dropping && ++manifestsServed > 1;
    });
    const index = await FleetIndex.open(join(dir, "resume.db"));
    try {
      const events: SyncEvent[] = [];
      const opts = {
        registry: { retry: { attempts: 2, baseDelayMs: 20 } },
        onEvent: (e: SyncEvent) => events.push(e),
      };
      const first = await syncRegistry(index, { registry: proxy.host }, opts);
      assert.deepEqual([first.indexed, first.failed], [1, 3]);
      const failures = events.filter((e) => e.kind === "failed");
      for (const f of failures) {
        assert.match(f.error.message, /unreachable|closed|socket|reset|terminated/i, f.error.message);
        assert.doesNotMatch(f.error.message, /\n/);
      }
      assert.equal((await index.stats()).images, 1);
      dropping = false;
      const second = await syncRegistry(index, { registry: proxy.host }, opts);
      assert.deepEqual([second.unchanged, second.indexed, second.failed], [1, 3, 0]);
      assert.equal((await index.stats()).refs, TAGS.length);
    } finally {
      await index.close();
      await proxy.close();
    }
  });

  test("a tag pushed again (as update in place does), then sync: the old manifest is superseded, left out of ls and scan --fleet, and pruned (SQLite and PostgreSQL)", async () => {
    const own = await startRegistry(); // a registry of its own: the other tests count the shared one's tags
    try {
      const ref = `${own.host}/app-d:1`;
      await buildAndPush(repo, dir, ["app-d"], [ref]);
      const indexes = [join(dir, "superseded.db"), await pg.newDatabase()];
      const cli = async (index: string, ...args: string[]) => {
        const r = await runStrata([...args, "--index", index]);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout;
      };
      const digestsOf = async (index: string, ...flags: string[]) =>
        (
          JSON.parse(await cli(index, "index", "ls", "--json", ...flags)) as {
            digest: string;
            superseded: boolean;
          }[]
        ).map((i) => `${i.digest}${i.superseded ? " superseded" : ""}`);
      for (const index of indexes) await cli(index, "index", "sync", own.host);
      const [before] = await digestsOf(indexes[0]);
      // The tag moves to a new manifest, as `strata update` in place or a rebuild pushed again does.
      await buildAndPush(repo, dir, ["app-d", "libc6"], [ref]);
      for (const index of indexes) {
        await cli(index, "index", "sync", own.host);
        const [now] = await digestsOf(index);
        assert.notEqual(now, before, "the tag names the new manifest");
        assert.deepEqual((await digestsOf(index, "--all")).sort(), [now, `${before} superseded`].sort());
        const scan = JSON.parse(await cli(index, "scan", "--fleet", "--json"));
        assert.deepEqual(
          scan.images.map((i: { digest: string }) => i.digest),
          [now],
        );
        const pruned = JSON.parse(await cli(index, "index", "prune", "--json"));
        assert.deepEqual(
          pruned.images.map((i: { digest: string }) => i.digest),
          [before],
        );
        assert.deepEqual(await digestsOf(index, "--all"), [now]);
      }
    } finally {
      await own.close();
    }
  });

  test("an image the index already holds is reported unchanged with its package count, by sync and by add", async () => {
    const cli = (...args: string[]) => runStrata([...args, "--index", join(dir, "unchanged.db")]);
    const ref = `${registry.host}/app-a:1`;
    const added = await cli("index", "add", `docker://${ref}`);
    assert.equal(added.code, 0, added.stderr);
    assert.match(
      added.stderr,
      /^indexed docker:\/\/.*app-a:1 \(linux\/amd64\): sha256:[0-9a-f]{64}, 2 packages$/m,
    );
    const synced = await cli("index", "sync", `${registry.host}/app-a`);
    assert.equal(synced.code, 0, synced.stderr);
    assert.match(
      synced.stderr,
      new RegExp(`^unchanged ${ref} \\(linux/amd64\\): 2 packages, already indexed$`, "m"),
    );
    assert.doesNotMatch(synced.stderr, /0 packages/);
    const again = await cli("index", "add", `docker://${ref}`);
    assert.match(
      again.stderr,
      /^unchanged docker:\/\/.*app-a:1 \(linux\/amd64\): sha256:[0-9a-f]{64}, 2 packages, already indexed$/m,
    );
  });
});
