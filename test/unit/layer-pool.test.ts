import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { PackageLayerInput } from "../../src/layers/layer.js";
import { LayerPool } from "../../src/layers/layer-pool.js";
import { resolveCompression } from "../../src/oci/compress.js";
import { isStrataError } from "../../src/util/errors.js";
import { craftDeb, tempDir } from "../helpers/debs.js";

async function input(debPath: string, debSha256 = "0".repeat(64)): Promise<PackageLayerInput> {
  return {
    debPath,
    debSha256,
    store: await tempDir("pool-store"),
    epoch: 0,
    compression: resolveCompression("gzip"),
    keepDocs: false,
    locked: { name: "hello", version: "1.0", architecture: "all" },
  };
}

describe("layer pool", () => {
  test("after close, queued and new jobs are rejected with ABORTED and nothing stays pending", {
    timeout: 30_000,
  }, async () => {
    const dir = await tempDir("pool");
    const deb = await craftDeb(dir, "hello", [{ name: "./usr/hello", body: "hi\n" }]);
    const pool = new LayerPool(1);
    const inputs = [await input(deb.path, deb.sha256), await input(deb.path, deb.sha256)];
    const outcomes = inputs.map((i) =>
      pool.build(i).then(
        () => "built",
        (err: unknown) => err,
      ),
    );
    await pool.close();
    for (const outcome of await Promise.all(outcomes))
      assert.ok(isStrataError(outcome, "ABORTED"), String(outcome));
    await assert.rejects(pool.build(await input(deb.path, deb.sha256)), (err: unknown) =>
      isStrataError(err, "ABORTED"),
    );
  });

  test("a system error inside a worker (EISDIR) reaches the caller as one clean IO line, and the pool goes on", {
    timeout: 30_000,
  }, async () => {
    const dir = await tempDir("pool");
    const deb = await craftDeb(dir, "hello", [{ name: "./usr/hello", body: "hi\n" }]);
    const pool = new LayerPool(1);
    try {
      await assert.rejects(pool.build(await input(dir)), (err: unknown) => {
        assert.ok(isStrataError(err, "IO"), String(err));
        assert.match(err.message, /building its layer failed: EISDIR/);
        assert.doesNotMatch(err.message, /\n|\bat /);
        return true;
      });
      const record = await pool.build(await input(deb.path, deb.sha256));
      assert.equal(record.members[0].package, "hello");
    } finally {
      await pool.close();
    }
  });
});
