import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { LayerPool } from "../../src/layers/layer-pool.js";
import { resolveCompression } from "../../src/oci/compress.js";
import { isStrataError } from "../../src/util/errors.js";
import { craftDeb, tempDir } from "../helpers/debs.js";

const exec = promisify(execFile);

describe("a full disk under a layer worker", () => {
  it("is one clean 'no space left on device' line naming the store, and leaves no file (root: mounts a 256 KiB tmpfs)", {
    timeout: 60_000,
  }, async () => {
    const dir = await tempDir("full-layer");
    // Random bytes do not compress: the layer cannot fit in 256 KiB.
    const body = randomBytes(600_000).toString("latin1");
    const deb = await craftDeb(dir, "big", [
      { name: "./usr/", type: "directory" },
      { name: "./usr/blob", body },
    ]);
    const tiny = join(dir, "tiny");
    await exec("mkdir", [tiny]);
    await exec("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", tiny]);
    const pool = new LayerPool(1);
    try {
      const store = join(tiny, "blobs");
      const input = {
        debPath: deb.path,
        debSha256: deb.sha256,
        store,
        epoch: 0,
        compression: resolveCompression("none"),
        keepDocs: false,
        locked: deb.locked,
      };
      await assert.rejects(pool.build(input), (err: unknown) => {
        assert.ok(isStrataError(err, "IO"), String(err));
        assert.equal(err.message, `no space left on device writing the layer of ${deb.path} to ${store}`);
        assert.match(err.hint ?? "", /free some disk space/);
        return true;
      });
      const { stdout } = await exec("find", [tiny, "-type", "f"]);
      assert.equal(stdout.trim(), "", "no partial blob or spool file is left");
    } finally {
      await pool.close();
      await exec("umount", [tiny]);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
