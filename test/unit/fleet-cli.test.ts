import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { writeLayout } from "../../src/oci/layout.js";
import { runStrata } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { countedImage, statusLayer, strataImage } from "../helpers/fleet-images.js";

/** `strata index` and `strata query` as users run them (the compiled CLI), on local layouts. */

let dir: string;
let appSize: number;
let appLayerBytes: number;
before(async () => {
  dir = await tempDir("fleet-cli");
  const app = await strataImage([
    { name: "libssl3", version: "3.0.11-1~deb12u2", source: "openssl" },
    { name: "libc6", version: "2.36-9+deb12u4", source: "glibc" },
  ]);
  await writeLayout(join(dir, "app"), { kind: "image", image: app.image }, { tag: "1" });
  appLayerBytes = app.image.manifest.layers.reduce((sum, l) => sum + l.size, 0);
  appSize = appLayerBytes + app.image.manifest.config.size;
  const empty = countedImage([await statusLayer([], [{ path: "etc/motd", body: "hello\n" }])]);
  await writeLayout(join(dir, "empty"), { kind: "image", image: empty.image }, { tag: "1" });
});

describe("strata index and strata query on the command line (runs the built CLI)", () => {
  test("add, ls, query, rm and stats on a local layout; the default index is under XDG_DATA_HOME", async () => {
    const env = { XDG_DATA_HOME: join(dir, "data"), STRATA_INDEX: "" };
    const cli = (...args: string[]) => runStrata(args, { env });
    const added = await cli("index", "add", `oci:${join(dir, "app")}:1`);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stderr, /indexed oci:.*app:1 \(linux\/amd64\): sha256:[0-9a-f]{64}, 2 packages/);
    const stats = JSON.parse((await cli("index", "stats", "--json")).stdout);
    assert.equal(stats.index, join(dir, "data", "strata", "index.db"));
    assert.deepEqual([stats.images, stats.layers, stats.packages], [1, 3, 2]);
    assert.deepEqual([stats.layerBytes, stats.imageBytes], [appLayerBytes, appSize]);
    assert.match(
      (await cli("index", "stats")).stdout,
      /^bytes: .* in layers stored once; .* as images \(as if unshared\)$/m,
    );
    const listed = JSON.parse((await cli("index", "ls", "--json")).stdout);
    assert.equal(listed[0].size, appSize, "the config's and layers' compressed bytes");
    assert.deepEqual(listed[0].refs, [{ registry: "", repository: `oci:${join(dir, "app")}`, tag: "1" }]);
    const found = await cli("query", "openssl < 3.0.15-1~deb12u1");
    assert.equal(found.code, 0, found.stderr);
    assert.match(
      found.stdout,
      /^oci:.*app:1 {2}linux\/amd64 {2}sha256:[0-9a-f]{64}\n {2}libssl3:amd64 3\.0\.11-1~deb12u2 \(source openssl 3\.0\.11-1~deb12u2\)\n$/,
    );
    assert.match((await cli("query", "openssl >= 3.0.15-1~deb12u1")).stdout, /^no indexed image matches/);
    const paged = JSON.parse((await cli("query", "libssl3", "--json", "--offset", "1")).stdout);
    assert.deepEqual([paged.total, paged.limit, paged.offset, paged.answers], [1, 100, 1, []]);
    const whole = JSON.parse((await cli("query", "libssl3", "--json", "--all", "--limit", "1")).stdout);
    assert.deepEqual([whole.total, whole.limit, whole.answers.length], [1, null, 1]);
    assert.equal(
      (await cli("query", "libssl3", "--offset", "1")).stdout,
      "showing none of 1 images; --limit/--offset for more, --all for every one\n",
    );
    for (const bad of [
      ["--limit", "0"],
      ["--limit", "10001"],
      ["--offset", "-1"],
      ["--limit", "x"],
    ]) {
      const refused = await cli("query", "libssl3", ...bad);
      assert.equal(refused.code, 2, bad.join(" "));
      assert.match(refused.stderr, /^strata: error: .*whole number from/);
    }
    const removed = await cli("index", "rm", `oci:${join(dir, "app")}:1`);
    assert.equal(removed.code, 0, removed.stderr);
    assert.deepEqual(JSON.parse((await cli("index", "ls", "--json")).stdout), []);
    const again = await cli("index", "rm", `oci:${join(dir, "app")}:1`);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /^strata: error: .* is not in the index/);
  });

  test("bad images and bad queries are one line and a hint each, and the good images still get in", async () => {
    const index = join(dir, "bad.db");
    const added = await runStrata([
      "index",
      "add",
      `oci:${join(dir, "empty")}:1`,
      `oci:${join(dir, "app")}:1`,
      "--index",
      index,
    ]);
    assert.equal(added.code, 1);
    assert.match(added.stderr, /^strata: error: oci:.*empty:1 \(linux\/amd64\): no Debian packages found/m);
    assert.match(added.stderr, /^strata: error: 1 of 2 images were not indexed/m);
    assert.doesNotMatch(added.stderr, /internal error|\n\s+at /);
    const stats = JSON.parse((await runStrata(["index", "stats", "--json", "--index", index])).stdout);
    assert.equal(stats.images, 1);
    const bad = await runStrata(["query", "openssl <", "--index", index]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^strata: error: query "openssl <": not a query\nstrata: hint: write NAME/);
    const gone = await runStrata(["index", "stats", "--index", "postgres://strata@127.0.0.1:1/none"]);
    assert.equal(gone.code, 1);
    assert.match(
      gone.stderr,
      /^strata: error: index postgres:\/\/strata@127\.0\.0\.1:1\/none: .*ECONNREFUSED/,
    );
  });
});
