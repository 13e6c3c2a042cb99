import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { describe, test } from "node:test";

/**
 * Manifests and indexes are serialised in one place (src/oci/mutate.ts: composeManifest,
 * composeIndex, composeImage, composeArtifact), so equal inputs give equal bytes wherever an image,
 * an artifact, a layout's index.json or a referrers index is written.
 */

const SRC = new URL("../../src/", import.meta.url).pathname;
const SERIALISER = "oci/mutate.ts";
/** The wire types declare the field; they serialise nothing. */
const DECLARES = "oci/types.ts";

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

describe("one serialiser", { timeout: 60_000 }, () => {
  test("no module but oci/mutate.ts writes a manifest or an index", async () => {
    const writers: string[] = [];
    for (const file of await sources(SRC)) {
      const name = relative(SRC, file);
      if (name === SERIALISER || name === DECLARES) continue;
      if (/schemaVersion:\s*2\b/.test(await readFile(file, "utf8"))) writers.push(name);
    }
    assert.deepEqual(writers, [], "compose the manifest or index with oci/mutate.ts instead");
  });

  test("oci/mutate.ts is where they are written", async () => {
    const text = await readFile(join(SRC, SERIALISER), "utf8");
    assert.match(text, /export function composeManifest\(/);
    assert.match(text, /export function composeIndex\(/);
  });
});
