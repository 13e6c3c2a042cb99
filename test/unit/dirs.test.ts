import assert from "node:assert/strict";
import { stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { prepareCacheRoot } from "../../src/util/dirs.js";
import { isStrataError } from "../../src/util/errors.js";
import { tempDir } from "../helpers/debs.js";

test("a cache directory that does not exist yet is made, level by level", async () => {
  const root = join(await tempDir("cache-root"), "a", "b", "cache");
  assert.equal(await prepareCacheRoot(root), root);
  assert.ok((await stat(root)).isDirectory());
});

test("a cache directory that is a file, or lies under one, is one clear error naming it", async () => {
  const file = join(await tempDir("cache-file"), "afile");
  await writeFile(file, "");
  for (const dir of [file, join(file, "below")]) {
    await assert.rejects(
      prepareCacheRoot(dir),
      (err) => isStrataError(err, "IO") && err.message.includes(`cannot use ${dir} as the cache directory`),
    );
  }
});

test("a cache directory under /proc is refused at once instead of hanging in mkdir", {
  timeout: 10_000,
}, async () => {
  await assert.rejects(prepareCacheRoot("/proc/strata-nope/cache"), (err) => isStrataError(err, "IO"));
});
