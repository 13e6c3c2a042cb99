import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { openPostgres } from "../../src/fleet/postgres.js";
import { MIGRATIONS, migrate } from "../../src/fleet/schema.js";
import { openSqlite } from "../../src/fleet/sqlite.js";
import { addImage, type ImageRef } from "../../src/fleet/store.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { isStrataError } from "../../src/util/errors.js";
import { tempDir } from "../helpers/debs.js";
import { countedImage, statusLayer, strataBaseLayer, strataImage } from "../helpers/fleet-images.js";
import { type PostgresServer, startPostgres } from "../helpers/postgres.js";

/** Every test runs on both databases: an embedded SQLite file and a real PostgreSQL server of our own. */
let pg: PostgresServer;
let dir: string;
let files = 0;
before(async () => {
  [pg, dir] = await Promise.all([startPostgres(), tempDir("fleet")]);
});
after(() => pg?.stop());

const BACKENDS = [
  { name: "SQLite", location: async () => join(dir, `index-${++files}.db`) },
  { name: "PostgreSQL", location: () => pg.newDatabase() },
];

const ref = (repository: string, tag: string, topDigest: string): ImageRef => ({
  registry: "registry.test",
  repository,
  tag,
  topDigest,
});

const digestOf = (image: { manifestBytes: Buffer; manifest: { mediaType: string } }) =>
  imageDescriptor(image as never).digest;

const OPENSSL = { name: "libssl3", version: "3.0.11-1~deb12u2", source: "openssl" };
const LIBC = { name: "libc6", version: "2.36-9+deb12u4", source: "glibc" };
const ZLIB = { name: "zlib1g", version: "1:1.2.13.dfsg-1", source: "zlib" };

for (const backend of BACKENDS) {
  describe(`the fleet index on ${backend.name}`, () => {
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
      assert.equal((await index.query("source:openssl")).length, 2);
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
      assert.equal((await index.query("zlib1g = 1:1.2.13.dfsg-1")).length, 0);
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
      assert.equal(await index.remove({ ref: { registry: "registry.test", repository: "a", tag: "1" } }), 0);
      assert.equal(
        await index.remove({ ref: { registry: "registry.test", repository: "a", tag: "latest" } }),
        1,
      );
      assert.deepEqual(
        (await index.images()).map((i) => i.digest),
        [digestOf(b.image)],
      );
      const stats = await index.stats();
      assert.deepEqual([stats.images, stats.refs, stats.layers, stats.layerPackages], [1, 1, 3, 2]);
      assert.deepEqual(await index.query("source:openssl"), []);
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

    test("migrates an index of an older schema and keeps what it held", async () => {
      const location = await backend.location();
      const v1 = backend.name === "SQLite" ? await openSqlite(location) : await openPostgres(location);
      assert.deepEqual(await migrate(v1, MIGRATIONS.slice(0, 1)), [1]);
      const { image } = await strataImage([LIBC, OPENSSL]);
      await addImage(v1, image, "test", [ref("old", "1", digestOf(image))]);
      await v1.close();
      const index = await FleetIndex.open(location);
      const stats = await index.stats();
      assert.deepEqual(
        [stats.schemaVersion, stats.images, stats.layerPackages],
        [MIGRATIONS.at(-1)!.version, 1, 2],
      );
      const rows = await index.db.all<{ version: number }>(
        "SELECT version FROM schema_migrations ORDER BY version",
      );
      assert.deepEqual(
        rows.map((r) => Number(r.version)),
        MIGRATIONS.map((m) => m.version),
      );
      assert.equal(Number((await index.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM sync_tags"))?.n), 0);
      assert.equal((await index.query("libssl3 << 3.0.15-1~deb12u1")).length, 1);
      await index.close();
    });
  });
}
