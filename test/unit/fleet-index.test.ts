import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { Db } from "../../src/database/db.js";
import { migrate } from "../../src/database/migrate.js";
import { openPostgres } from "../../src/database/postgres.js";
import { openSqlite } from "../../src/database/sqlite.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { LAYER_LIMITS } from "../../src/fleet/layer-bounds.js";
import { INDEX_MIGRATIONS } from "../../src/fleet/open.js";
import { parseQuery } from "../../src/fleet/query.js";
import { FLEET_MIGRATIONS } from "../../src/fleet/schema.js";
import { type ImageRef, imageSize } from "../../src/fleet/store.js";
import { readInventory } from "../../src/inventory/inventory.js";
import { type Image, imageDescriptor } from "../../src/oci/image.js";
import { isStrataError } from "../../src/util/errors.js";
import {
  countedImage,
  poisonedImage,
  statusLayer,
  strataBaseLayer,
  strataImage,
  strataPackageLayer,
} from "../helpers/fleet-images.js";
import { indexBackends, openIndexWithDb } from "../helpers/index-backends.js";

/** Every test runs on both databases: an embedded SQLite file and a real PostgreSQL server of our own. */
const { backends: BACKENDS, pg } = indexBackends("fleet");

const ref = (repository: string, tag: string, topDigest: string): ImageRef => ({
  registry: "registry.test",
  repository,
  tag,
  topDigest,
});

const digestOf = (image: { manifestBytes: Buffer; manifest: { mediaType: string } }) =>
  imageDescriptor(image as never).digest;

/** Real versions from the host's apt lists, plus the hard cases of deb-version(7). */
function realVersions(): string[] {
  const dump = execFileSync("apt-cache", ["dumpavail"], { encoding: "utf8", maxBuffer: 1 << 30 });
  const all = [...new Set([...dump.matchAll(/^Version: (.+)$/gm)].map((m) => m[1]))].sort();
  const step = Math.max(1, Math.floor(all.length / 30));
  const sample = all.filter((_, i) => i % step === 0).slice(0, 30);
  const hard = [
    "3.0.11-1~deb12u2",
    "3.0.11-1",
    "3.0.11-1+deb12u1",
    "3.0.15-1~deb12u1",
    "1:0.9",
    "3.0.11",
    "3.0.11~rc1-1",
  ];
  return [...new Set([...sample, ...hard])];
}

/** dpkg's own order: the sign of a-vs-b for each pair, from dpkg --compare-versions in one shell. */
function dpkgSigns(pairs: [string, string][]): number[] {
  const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const script = pairs
    .map(([a, b]) => {
      const [qa, qb] = [quote(a), quote(b)];
      return `if dpkg --compare-versions ${qa} lt ${qb}; then echo -1; elif dpkg --compare-versions ${qa} eq ${qb}; then echo 0; else echo 1; fi`;
    })
    .join("\n");
  const out = spawnSync("sh", ["-s"], { input: script, encoding: "utf8", maxBuffer: 1 << 26 });
  return out.stdout.trim().split("\n").map(Number);
}

/** What each relation asks of the sign of version-vs-reference. */
const RELATIONS: [string, (sign: number) => boolean][] = [
  ["<<", (s) => s < 0],
  ["<=", (s) => s <= 0],
  ["=", (s) => s === 0],
  [">=", (s) => s >= 0],
  [">>", (s) => s > 0],
  ["<", (s) => s < 0],
  [">", (s) => s > 0],
];

/** The versions, references and dpkg's signs: asked of dpkg once for both databases. */
const ORDER = (() => {
  let cached: { versions: string[]; refs: string[]; sign: Map<string, number> } | undefined;
  return () => {
    if (cached) return cached;
    const versions = realVersions();
    const refs = ["3.0.11-1", "3.0.11-1~deb12u2", "1:0.9", versions[3], versions[17]];
    const pairs = refs.flatMap((r) => versions.map((v) => [v, r] as [string, string]));
    const signs = dpkgSigns(pairs);
    cached = { versions, refs, sign: new Map(pairs.map(([v, r], i) => [`${v} ${r}`, signs[i]])) };
    return cached;
  };
})();

const ADDER = fileURLToPath(new URL("../helpers/fleet-adder.ts", import.meta.url));

/** Runs the adder script as a separate process; resolves with its exit code and stderr. */
function adder(location: string, writer: string, count: number): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", ADDER, location, writer, String(count)], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stderr }));
  });
}

const OPENSSL = { name: "libssl3", version: "3.0.11-1~deb12u2", source: "openssl" };
const LIBC = { name: "libc6", version: "2.36-9+deb12u4", source: "glibc" };
const ZLIB = { name: "zlib1g", version: "1:1.2.13.dfsg-1", source: "zlib" };

for (const backend of BACKENDS) {
  describe(`the fleet index on ${backend.name}`, () => {
    test("records runs and lists them newest first, by image digest and since a time", async () => {
      const index = await FleetIndex.open(await backend.location());
      const a = `sha256:${"1".repeat(64)}`;
      const b = `sha256:${"2".repeat(64)}`;
      const run = (id: string, digest: string, startedAt: number) => ({
        id,
        name: "",
        image: "oci:/srv/app:1",
        digest,
        platform: "linux/amd64",
        args: ["/usr/bin/python3", "-c", "print('it''s')"],
        user: "65532:65532",
        runBy: "root (0)",
        startedAt,
        endedAt: startedAt + 2500,
        exitCode: 3,
        outcome: "exited" as const,
        peakMemoryBytes: 5_000_000_000,
      });
      try {
        await index.recordRun(run("r1", a, 1000));
        await index.recordRun(run("r2", b, 2000));
        await index.recordRun(run("r3", a, 3000));
        assert.deepEqual(await index.runs({ digests: [a] }), [run("r3", a, 3000), run("r1", a, 1000)]);
        assert.deepEqual(
          (await index.runs({ since: 2000 })).map((r) => r.id),
          ["r3", "r2"],
        );
        assert.deepEqual(await index.runs({ digests: [] }), []);
      } finally {
        await index.close();
      }
    });

    test("finds an added image by manifest, config (image ID), layer digest and diff_id, with its packages", async () => {
      const index = await FleetIndex.open(await backend.location());
      const { image } = await strataImage([LIBC, OPENSSL]);
      const digest = digestOf(image);
      const result = await index.add(image, "test", [ref("app", "1", digest)]);
      assert.deepEqual([result.added, result.packages, result.layersRead], [true, 2, 0]);
      const layer = image.manifest.layers[2];
      const lookups = [digest, image.manifest.config.digest, layer.digest, image.config.rootfs.diff_ids[2]];
      for (const d of lookups)
        assert.deepEqual(
          (await index.byDigest(d)).map((m) => m.image.digest),
          [digest],
          d,
        );
      assert.deepEqual(
        (await index.byDigest(lookups[1])).map((m) => m.match),
        ["config"],
      );
      const packages = await index.packagesOf(digest);
      assert.deepEqual(
        packages.map((p) => [p.name, p.version, p.architecture, p.source, p.sourceVersion]),
        [
          ["libc6", "2.36-9+deb12u4", "amd64", "glibc", "2.36-9+deb12u4"],
          ["libssl3", "3.0.11-1~deb12u2", "amd64", "openssl", "3.0.11-1~deb12u2"],
        ],
      );
      const [image0] = await index.images();
      assert.equal(image0.platform, "linux/amd64");
      assert.deepEqual(image0.refs, [{ registry: "registry.test", repository: "app", tag: "1" }]);
      await index.close();
    });

    test("stores a layer's packages once however many images hold it, and a manifest once however many tags", async () => {
      const index = await FleetIndex.open(await backend.location());
      for (let i = 0; i < 5; i++) {
        const { image } = await strataImage([LIBC, ZLIB, { name: `app${i}`, version: "1.0" }]);
        for (const tag of ["latest", `v${i}`])
          await index.add(image, "test", [ref(`app${i}`, tag, digestOf(image))]);
      }
      const stats = await index.stats();
      assert.equal(stats.images, 5);
      assert.equal(stats.refs, 10);
      assert.equal(stats.layers, 1 + 2 + 5, "one base, libc6 and zlib1g shared, one app layer each");
      assert.equal(stats.layerPackages, 2 + 5);
      assert.equal(stats.imagePackages, 5 * 3);
      await index.close();
    });

    test("reads no layer of a strata image, and a foreign image's layers once per layer digest", async () => {
      const index = await FleetIndex.open(await backend.location());
      const strata = await strataImage([LIBC, OPENSSL]);
      await index.add(strata.image, "test", [ref("strata", "1", digestOf(strata.image))]);
      assert.deepEqual(strata.opened, []);
      const debianBase = await statusLayer([LIBC, ZLIB]);
      const first = countedImage([debianBase, await strataBaseLayer("a")]);
      const second = countedImage([debianBase, await strataBaseLayer("b")]);
      await index.add(first.image, "test", [ref("debian", "a", digestOf(first.image))]);
      await index.add(second.image, "test", [ref("debian", "b", digestOf(second.image))]);
      assert.equal(first.opened.length, 2);
      assert.deepEqual(
        second.opened,
        [second.image.manifest.layers[1].digest],
        "the shared layer is not read again",
      );
      assert.deepEqual(
        (await index.packagesOf(digestOf(second.image))).map((p) => p.name),
        ["libc6", "zlib1g"],
      );
      await index.close();
    });

    test("a plain-annotated strata layer is read once for its source, and then never again", async () => {
      const index = await FleetIndex.open(await backend.location());
      const a = await strataImage([OPENSSL], { form: "plain", label: "a" });
      const b = await strataImage([OPENSSL], { form: "plain", label: "b" });
      await index.add(a.image, "test", [ref("a", "1", digestOf(a.image))]);
      await index.add(b.image, "test", [ref("b", "1", digestOf(b.image))]);
      assert.deepEqual(a.opened, [a.image.manifest.layers[1].digest]);
      assert.deepEqual(b.opened, []);
      assert.equal((await index.query("source:openssl")).items.length, 2);
      await index.close();
    });

    test("an image annotating a shared layer's digest with false packages cannot hide its real ones, added first or last", async () => {
      for (const victimKind of ["debian", "strata"] as const) {
        for (const attackerFirst of [true, false]) {
          const { index, db } = await openIndexWithDb(await backend.location());
          const shared =
            victimKind === "debian" ? await statusLayer([OPENSSL]) : await strataPackageLayer(OPENSSL);
          const victim = countedImage([await strataBaseLayer("victim"), shared], { label: "victim" });
          const attacker = await poisonedImage(shared);
          const addAttacker = () =>
            index.add(attacker, "evil", [ref("evil", "1", digestOf(attacker))]).catch((e) => e);
          if (attackerFirst) await addAttacker();
          await index.add(victim.image, "test", [ref("victim", "1", digestOf(victim.image))]);
          if (!attackerFirst) await addAttacker();
          const what = `${victimKind} victim, attacker ${attackerFirst ? "first" : "last"}`;
          const answers = (await index.query("source:openssl")).items;
          assert.ok(
            answers.some((a) => a.image.digest === digestOf(victim.image)),
            `${what}: the victim's openssl is found`,
          );
          const seen = (await index.packagesOf(digestOf(victim.image))).map((p) => p.name);
          assert.deepEqual(seen, ["libssl3"], `${what}: the victim shows its real packages only`);
          assert.equal(
            (await index.query("bash")).items.filter((a) => a.image.digest === digestOf(victim.image)).length,
            0,
          );
          const from = await db.get<{ packages_from: string }>(
            "SELECT packages_from FROM layers WHERE digest = ?",
            [shared.descriptor.digest],
          );
          if (victimKind === "debian" || attackerFirst) assert.equal(from?.packages_from, "records", what);
          await index.close();
        }
      }
    });

    test("an image claiming a shared layer's digest with a false size cannot make the fleet report it, added first or last", async () => {
      for (const liarFirst of [true, false]) {
        const { index, db } = await openIndexWithDb(await backend.location());
        const shared = await strataPackageLayer(OPENSSL);
        const honest = countedImage([await strataBaseLayer("honest"), shared], { label: "honest" });
        const huge = { ...shared, descriptor: { ...shared.descriptor, size: 999_999_999_999 } };
        const liar = countedImage([await strataBaseLayer("liar"), huge], { label: "liar" });
        const addLiar = () =>
          index.add(liar.image, "evil", [ref("evil", "1", digestOf(liar.image))]).catch((e) => e);
        if (liarFirst) await addLiar();
        await index.add(honest.image, "test", [ref("honest", "1", digestOf(honest.image))]);
        if (!liarFirst) await addLiar();
        const row = await db.get<{ size: number }>("SELECT size FROM layers WHERE digest = ?", [
          shared.descriptor.digest,
        ]);
        assert.equal(Number(row?.size), shared.descriptor.size, `liar ${liarFirst ? "first" : "last"}`);
        await index.close();
      }
    });

    test("a layer that unpacks past its cap fails the add with one line and leaves the index as it was", async () => {
      const index = await FleetIndex.open(await backend.location());
      const saved = { ...LAYER_LIMITS };
      Object.assign(LAYER_LIMITS, { ratio: 10, ratioFloor: 1 << 20 });
      try {
        const zeros = "\0".repeat(4 << 20);
        const bomb = countedImage([await statusLayer([OPENSSL], [{ path: "zeros", body: zeros }])]);
        await assert.rejects(
          index.add(bomb.image, "test", [ref("bomb", "1", digestOf(bomb.image))]),
          (err) => isStrataError(err, "IO") && /unpacks to more than 1048576 bytes/.test(err.message),
        );
        assert.equal((await index.stats()).images, 0);
        assert.equal((await index.stats()).layers, 0);
      } finally {
        Object.assign(LAYER_LIMITS, saved);
      }
      await index.close();
    });

    test("a query by source finds an image listing 33,000 packages of that source (past SQLite's 32,766 values)", async () => {
      const index = await FleetIndex.open(await backend.location());
      const many = Array.from({ length: 33_000 }, (_, i) => ({
        name: `p${i}`,
        version: "1.0-1",
        source: "evilsrc",
      }));
      const { image } = countedImage([await statusLayer([OPENSSL, ...many])]);
      await index.add(image, "test", [ref("many", "1", digestOf(image))]);
      const answers = (await index.query("evilsrc")).items;
      assert.equal(answers.length, 1);
      assert.equal(answers[0].packages.length, 33_000);
      assert.equal(answers[0].packages[0].name, "p0");
      assert.equal((await index.query("source:openssl")).items.length, 1);
      await index.close();
    });

    test("an upper layer's status database hides the one below, as in a container", async () => {
      const index = await FleetIndex.open(await backend.location());
      const lower = await statusLayer([LIBC, ZLIB]);
      const upper = await statusLayer([LIBC, { ...ZLIB, version: "1:1.3.dfsg-3" }, OPENSSL]);
      const { image } = countedImage([lower, upper]);
      await index.add(image, "test", [ref("debian", "1", digestOf(image))]);
      const seen = (await index.packagesOf(digestOf(image))).map((p) => `${p.name}=${p.version}`);
      assert.deepEqual(seen, ["libc6=2.36-9+deb12u4", "libssl3=3.0.11-1~deb12u2", "zlib1g=1:1.3.dfsg-3"]);
      assert.equal((await index.query("zlib1g = 1:1.2.13.dfsg-1")).items.length, 0);
      await index.close();
    });

    test("rm takes an image out with what only it held; ls and stats agree", async () => {
      const index = await FleetIndex.open(await backend.location());
      const a = await strataImage([LIBC, OPENSSL], { label: "a" });
      const b = await strataImage([LIBC, ZLIB], { label: "b" });
      await index.add(a.image, "test", [
        ref("a", "1", digestOf(a.image)),
        ref("a", "latest", digestOf(a.image)),
      ]);
      await index.add(b.image, "test", [ref("b", "1", digestOf(b.image))]);
      const byTag = (tag: string) =>
        index.remove({ ref: { registry: "registry.test", repository: "a", tag } });
      assert.deepEqual(await byTag("1"), { refs: 1, images: 0 });
      assert.deepEqual(await byTag("latest"), { refs: 1, images: 1 });
      assert.deepEqual(
        (await index.images()).map((i) => i.digest),
        [digestOf(b.image)],
      );
      const stats = await index.stats();
      assert.deepEqual([stats.images, stats.refs, stats.layers, stats.layerPackages], [1, 1, 3, 2]);
      assert.deepEqual((await index.query("source:openssl")).items, []);
      assert.deepEqual(await index.remove({ digest: digestOf(b.image) }), { refs: 1, images: 1 });
      assert.equal((await index.stats()).layers, 0);
      await index.close();
    });

    test("an image with no packages, a layer that is not a tar and an artifact leave the index as it was", async () => {
      const index = await FleetIndex.open(await backend.location());
      const good = await strataImage([LIBC]);
      await index.add(good.image, "test", [ref("good", "1", digestOf(good.image))]);
      const before = await index.stats();
      const empty = countedImage([await statusLayer([], [{ path: "etc/motd", body: "hi\n" }])]);
      const notTar = countedImage([await statusLayer([ZLIB])]);
      notTar.image.blobs = {
        open: async () => (await import("node:stream")).Readable.from([Buffer.from("not a tar at all")]),
      };
      const artifact = await strataImage([ZLIB]);
      artifact.image.manifest = { ...artifact.image.manifest, artifactType: "application/spdx+json" };
      for (const [what, bad, pattern] of [
        ["no packages", empty.image, /no Debian packages found/],
        ["not a tar", notTar.image, /.+/],
        ["an artifact", artifact.image, /not an image/],
      ] as const) {
        await assert.rejects(index.add(bad, what, [ref("bad", what, digestOf(bad))]), (err) => {
          assert.ok(isStrataError(err), `${what}: ${err}`);
          assert.match(err.message, pattern);
          assert.doesNotMatch(err.message, /\n/);
          return true;
        });
      }
      assert.deepEqual(await index.stats(), before);
      await index.close();
    });

    test("version relations follow dpkg's order on real versions, as dpkg --compare-versions answers", async () => {
      const index = await FleetIndex.open(await backend.location());
      const { versions, refs, sign } = ORDER();
      for (const [i, version] of versions.entries()) {
        const { image } = await strataImage([{ name: "probe", version, source: "probe-src" }], {
          label: String(i),
        });
        await index.add(image, "test", [ref("probe", String(i), digestOf(image))]);
      }
      for (const r of refs) {
        for (const [op, holds] of RELATIONS) {
          const expected = versions.filter((v) => holds(sign.get(`${v} ${r}`)!)).sort();
          for (const query of [`probe ${op} ${r}`, `source:probe-src ${op} ${r}`]) {
            const found = (await index.query(query)).items
              .flatMap((a) => a.packages.map((p) => p.version))
              .sort();
            assert.deepEqual(found, expected, query);
          }
        }
      }
      await index.close();
    });

    test("two processes adding at once lose nothing", async () => {
      const location = await backend.location();
      await (await FleetIndex.open(location)).close();
      const results = await Promise.all([adder(location, "a", 25), adder(location, "b", 25)]);
      for (const r of results) assert.equal(r.code, 0, r.stderr);
      const index = await FleetIndex.open(location);
      const stats = await index.stats();
      assert.deepEqual(
        [stats.images, stats.refs, stats.layers, stats.layerPackages, stats.imagePackages],
        [50, 50, 1 + 2 + 50, 2 + 50, 150],
      );
      assert.equal((await index.query("source:glibc")).items.length, 50);
      await index.close();
    });

    test("migrates an index of an older schema and keeps what it held; a new add fills the sizes it lacked", async () => {
      const location = await backend.location();
      const v1 = backend.name === "SQLite" ? await openSqlite(location) : await openPostgres(location);
      assert.deepEqual(await migrate(v1, FLEET_MIGRATIONS.slice(0, 1)), [1]);
      const { image } = await strataImage([LIBC, OPENSSL]);
      await storeAsVersion1(v1, image, digestOf(image));
      await v1.close();
      const { index, db } = await openIndexWithDb(location);
      const stats = await index.stats();
      assert.deepEqual(
        [stats.schemaVersion, stats.images, stats.layerPackages],
        [Math.max(...INDEX_MIGRATIONS.map((m) => m.version)), 1, 2],
      );
      assert.deepEqual(
        [stats.unsizedImages, stats.unsizedLayers, stats.layerBytes, stats.imageBytes],
        [1, image.manifest.layers.length, 0, 0],
      );
      const rows = await db.all<{ version: number }>(
        "SELECT version FROM schema_migrations ORDER BY version",
      );
      assert.deepEqual(
        rows.map((r) => Number(r.version)),
        INDEX_MIGRATIONS.map((m) => m.version).sort((a, b) => a - b),
      );
      assert.equal(Number((await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM sync_tags"))?.n), 0);
      assert.equal((await index.query("libssl3 << 3.0.15-1~deb12u1")).items.length, 1);
      assert.equal((await index.images())[0].size, null);
      await index.add(image, "test", [ref("old", "2", digestOf(image))]);
      assert.equal((await index.images())[0].size, imageSize(image));
      const after = await index.stats();
      assert.deepEqual([after.unsizedImages, after.unsizedLayers], [0, 0]);
      await index.close();
    });

    test("addMany stores a batch in one transaction as add does, and a bad image in it leaves none", async () => {
      const index = await FleetIndex.open(await backend.location());
      const batch = [];
      for (const label of ["a", "b", "c"]) {
        const { image } = await strataImage([LIBC, { name: `app-${label}`, version: "1.0" }], { label });
        batch.push({ image, where: label, refs: [ref(label, "1", digestOf(image))] });
      }
      const empty = countedImage([await statusLayer([], [{ path: "etc/motd", body: "hi\n" }])]).image;
      const bad = { image: empty, where: "empty", refs: [ref("empty", "1", digestOf(empty))] };
      await assert.rejects(index.addMany([...batch, bad]), /empty: no Debian packages found/);
      assert.equal((await index.stats()).images, 0);
      const results = await index.addMany(batch);
      assert.deepEqual(
        results.map((r) => [r.added, r.packages]),
        [
          [true, 2],
          [true, 2],
          [true, 2],
        ],
      );
      const stats = await index.stats();
      assert.deepEqual([stats.images, stats.layerPackages, stats.imagePackages], [3, 4, 6]);
      assert.deepEqual((await index.query("libc6")).items.map((a) => a.image.refs[0].repository).sort(), [
        "a",
        "b",
        "c",
      ]);
      await index.close();
    });

    test("every write of images moves the change counter, as another connection sees it; reads do not", async () => {
      const location = await backend.location();
      const writer = await FleetIndex.open(location);
      const reader = await FleetIndex.open(location);
      try {
        const seen = [await reader.changes()];
        const { image } = await strataImage([LIBC, OPENSSL]);
        await writer.add(image, "test", [ref("app", "1", digestOf(image))]);
        seen.push(await reader.changes());
        await writer.add(image, "test", [ref("app", "2", digestOf(image))]);
        seen.push(await reader.changes());
        await writer.query("libc6");
        await writer.images({ all: true });
        seen.push(await reader.changes());
        await writer.remove({ ref: { registry: "registry.test", repository: "app", tag: "2" } });
        seen.push(await reader.changes());
        await writer.prune();
        seen.push(await reader.changes());
        assert.deepEqual(seen, [0, 1, 2, 2, 3, 4]);
        // A write that fails leaves it where it was.
        const empty = countedImage([await statusLayer([], [{ path: "etc/motd", body: "hi\n" }])]).image;
        await assert.rejects(writer.add(empty, "empty", [ref("empty", "1", digestOf(empty))]));
        assert.equal(await reader.changes(), 4);
      } finally {
        await writer.close();
        await reader.close();
      }
    });

    test("a query answers one page of the matching images, by digest, with how many match in all", async () => {
      const index = await FleetIndex.open(await backend.location());
      const batch = [];
      for (const label of ["a", "b", "c", "d", "e", "f", "g"]) {
        const { image } = await strataImage([LIBC, { name: `app-${label}`, version: "1.0" }], { label });
        batch.push({ image, where: label, refs: [ref(label, "1", digestOf(image))] });
      }
      await index.addMany(batch);
      const everyDigest = batch.map((b) => digestOf(b.image)).sort();
      const pages = [];
      for (const offset of [0, 3, 6]) pages.push(await index.query("source:glibc", { limit: 3, offset }));
      assert.deepEqual(
        pages.map((p) => [p.total, p.offset, p.limit, p.items.length]),
        [
          [7, 0, 3, 3],
          [7, 3, 3, 3],
          [7, 6, 3, 1],
        ],
      );
      assert.deepEqual(
        pages.flatMap((p) => p.items.map((a) => a.image.digest)),
        everyDigest,
      );
      assert.deepEqual(
        pages[0].items[0].packages.map((p) => p.name),
        ["libc6"],
      );
      const past = await index.query("libc6 >= 2.36", { offset: 50 });
      assert.deepEqual([past.total, past.items.length, past.limit], [7, 0, 100]);
      const all = await index.query("libc6", { limit: "all" });
      assert.deepEqual([all.total, all.items.length, all.limit], [7, 7, null]);
      // The base layer names every image: a page of them, each with that layer's packages (none).
      const base = batch[0].image.manifest.layers[0].digest;
      const byLayer = await index.query(`digest:${base}`, { limit: 2, offset: 4 });
      assert.deepEqual(
        [byLayer.total, byLayer.items.map((a) => [a.image.digest, a.match, a.packages.length])],
        [7, everyDigest.slice(4, 6).map((d) => [d, "layer", 0])],
      );
      // A manifest digest comes first, the layer's images after it.
      const own = await index.query(`digest:${everyDigest[0]}`, { limit: 1, offset: 0 });
      assert.deepEqual([own.total, own.items.map((a) => a.match)], [1, ["manifest"]]);
      for (const page of [{ limit: 0 }, { limit: 10_001 }, { offset: -1 }, { limit: 1.5 }])
        await assert.rejects(index.query("libc6", page), (e) => isStrataError(e) && e.code === "USAGE");
      await index.close();
    });

    test("keeps each layer's compressed size once and each image's size, in ls and stats", async () => {
      const { index, db } = await openIndexWithDb(await backend.location());
      const a = await strataImage([LIBC, OPENSSL], { label: "a" });
      const b = await strataImage([LIBC, ZLIB], { label: "b" });
      for (const [name, { image }] of [
        ["a", a],
        ["b", b],
      ] as const)
        await index.add(image, "test", [ref(name, "1", digestOf(image))]);
      const sizes = (img: typeof a.image) => img.manifest.layers.map((l) => l.size);
      const expected = (img: typeof a.image) => sizes(img).reduce((x, y) => x + y, img.manifest.config.size);
      assert.deepEqual(
        (await index.images()).map((i) => [i.digest, i.size]).sort(),
        [
          [digestOf(a.image), expected(a.image)],
          [digestOf(b.image), expected(b.image)],
        ].sort(),
      );
      const layerRows = await db.all<{ digest: string; size: number }>("SELECT digest, size FROM layers");
      const byDigest = new Map(layerRows.map((r) => [r.digest, Number(r.size)]));
      for (const l of [...a.image.manifest.layers, ...b.image.manifest.layers])
        assert.equal(byDigest.get(l.digest), l.size, l.digest);
      const distinct = new Map(
        [...a.image.manifest.layers, ...b.image.manifest.layers].map((l) => [l.digest, l.size]),
      );
      const stats = await index.stats();
      assert.equal(
        stats.layerBytes,
        [...distinct.values()].reduce((x, y) => x + y, 0),
      );
      assert.equal(stats.imageBytes, expected(a.image) + expected(b.image));
      assert.ok(stats.layerBytes < stats.imageBytes, "shared layers are stored once");
      await index.close();
    });
  });
}

/** What a strata of schema version 1 stored for a strata image: rows of the version 1 tables alone. */
async function storeAsVersion1(db: Db, image: Image, digest: string): Promise<void> {
  const inventory = await readInventory(image, "test", { complete: () => true });
  const m = await db.get<{ id: number }>(
    `INSERT INTO manifests (digest, config_digest, media_type, os, architecture, variant, packages_from, added_at)
     VALUES (?, ?, ?, 'linux', 'amd64', '', 'annotations', 0) RETURNING id`,
    [digest, image.manifest.config.digest, image.manifest.mediaType],
  );
  for (const [position, layer] of image.manifest.layers.entries()) {
    const l = await db.get<{ id: number }>(
      "INSERT INTO layers (digest, diff_id, packages_from) VALUES (?, ?, 'annotations') RETURNING id",
      [layer.digest, image.config.rootfs.diff_ids[position]],
    );
    await db.run("INSERT INTO manifest_layers (manifest_id, position, layer_id) VALUES (?, ?, ?)", [
      m!.id,
      position,
      l!.id,
    ]);
    for (const p of inventory.packages.filter((q) => q.layer.index === position)) {
      const row = await db.get<{ id: number }>(
        `INSERT INTO packages (name, version, architecture, source, source_version) VALUES (?, ?, ?, ?, ?) RETURNING id`,
        [p.name, p.version, p.architecture ?? "", p.source ?? "", p.sourceVersion ?? ""],
      );
      await db.run("INSERT INTO layer_packages (layer_id, package_id, record) VALUES (?, ?, ?)", [
        l!.id,
        row!.id,
        `status.d/${p.name}`,
      ]);
    }
  }
  await db.run(
    "INSERT INTO refs (registry, repository, tag, manifest_id, top_digest) VALUES (?, ?, ?, ?, ?)",
    ["registry.test", "old", "1", m!.id, digest],
  );
}

describe("the fleet index when PostgreSQL goes away", () => {
  test("an add fails with one line, and the index is as it was once the server is back", async () => {
    const location = await pg().newDatabase();
    const index = await FleetIndex.open(location);
    const first = await strataImage([LIBC], { label: "first" });
    await index.add(first.image, "test", [ref("first", "1", digestOf(first.image))]);
    const before = await index.stats();
    await pg().kill();
    try {
      const second = await strataImage([ZLIB], { label: "second" });
      await assert.rejects(
        index.add(second.image, "test", [ref("second", "1", digestOf(second.image))]),
        (err) => {
          assert.ok(isStrataError(err, "DATABASE"), String(err));
          assert.match(err.message, /^index postgres:\/\/postgres@127\.0\.0\.1:\d+\/\w+: /);
          assert.doesNotMatch(err.message, /\n/);
          assert.match(err.hint ?? "", /PostgreSQL server is running/);
          return true;
        },
      );
      await assert.rejects(index.stats(), (err) => isStrataError(err, "DATABASE"));
    } finally {
      await index.close();
      await pg().start();
    }
    const again = await FleetIndex.open(location);
    assert.deepEqual(await again.stats(), before);
    await again.close();
    await assert.rejects(FleetIndex.open(pg().url("no_such_database")), (err) => {
      assert.ok(isStrataError(err, "DATABASE"));
      assert.match(err.message, /no_such_database/);
      return true;
    });
  });
});

describe("fleet queries as written", () => {
  test("take dpkg's relations, < and > as strict, source: and digest:, and refuse the rest with a hint", () => {
    assert.deepEqual(parseQuery("openssl < 3.0.15-1~deb12u1"), {
      kind: "package",
      name: "openssl",
      sourceOnly: false,
      op: "<<",
      version: "3.0.15-1~deb12u1",
    });
    assert.equal((parseQuery("openssl>1:2.0") as { op: string }).op, ">>");
    assert.equal((parseQuery("libc6 (>= 2.36)") as { op: string }).op, ">=");
    assert.deepEqual(parseQuery("source:openssl"), {
      kind: "package",
      name: "openssl",
      sourceOnly: true,
      op: undefined,
      version: undefined,
    });
    const digest = `sha256:${"a".repeat(64)}`;
    assert.deepEqual(parseQuery(`digest:${digest}`), { kind: "digest", digest });
    for (const bad of [
      "openssl <",
      "openssl << not-a-version",
      "Bad_Name",
      "digest:sha256:xyz",
      "openssl <=> 1",
      "",
    ]) {
      assert.throws(
        () => parseQuery(bad),
        (err) => isStrataError(err, "USAGE") && /write NAME/.test(err.hint ?? ""),
        bad,
      );
    }
  });
});
