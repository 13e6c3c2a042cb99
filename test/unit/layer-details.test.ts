import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { layerDetailsCache } from "../../src/inventory/details-cache.js";
import { type Found, layerDetailsScan } from "../../src/inventory/layer-details.js";
import type { LayerScan } from "../../src/inventory/layer-scan.js";
import { scanOverlay } from "../../src/inventory/overlay.js";
import { buildBaseLayer, buildEntriesLayer } from "../../src/layers/base-layer.js";
import { buildGroupLayer } from "../../src/layers/group-layer.js";
import { buildPackageLayer, type PackageLayerInput } from "../../src/layers/layer.js";
import { LayerCache } from "../../src/layers/layer-cache.js";
import type { LayerBlob } from "../../src/layers/write-layer.js";
import { resolveCompression } from "../../src/oci/compress.js";
import { ContentStore } from "../../src/util/cas.js";
import { type CraftedFile, craftDeb, tempDir } from "../helpers/debs.js";
import { copyright, OS_RELEASE } from "../helpers/sbom-image.js";
import { storeBlobSource, syntheticImage } from "../helpers/synthetic-image.js";

/**
 * The SBOM details a layer yields are kept as the layer is written (src/layers/write-layer.ts), so that a
 * cold build's SBOMs read no layer: what is kept then must be exactly what reading the blob back
 * gives (src/inventory/overlay.ts), for every kind of layer strata makes.
 */

const GZIP = resolveCompression("gzip");
const dir = (name: string): CraftedFile => ({ name, type: "directory" });

async function packageInput(
  work: string,
  pkg: string,
  files: CraftedFile[],
  keepDocs = false,
): Promise<PackageLayerInput> {
  const deb = await craftDeb(work, pkg, files);
  return {
    debPath: deb.path,
    debSha256: deb.sha256,
    store: join(work, "store"),
    epoch: 0,
    compression: GZIP,
    keepDocs,
    locked: deb.locked,
    cacheRoot: join(work, "cache"),
  };
}

/** base-files' way: os-release in usr/lib behind etc's symlink, debian_version, its copyright. */
const BASE_FILES: CraftedFile[] = [
  dir("./etc/"),
  { name: "./etc/debian_version", body: "12.4\n" },
  { name: "./etc/os-release", type: "symlink", linkname: "../usr/lib/os-release" },
  dir("./usr/"),
  dir("./usr/lib/"),
  { name: "./usr/lib/os-release", body: OS_RELEASE },
  { name: "./usr/share/doc/base-files/copyright", body: copyright("GPL-2.0-or-later") },
];

/** A doc directory shared through Debian's symlink, and a copyright hardlinked from a later path. */
const SHARED_DOCS: CraftedFile[] = [
  dir("./usr/"),
  { name: "./usr/share/doc/zlib-common/copyright", body: copyright("Zlib") },
  { name: "./usr/share/doc/libz1", type: "symlink", linkname: "zlib-common" },
  { name: "./usr/share/doc/alib/copyright", type: "link", linkname: "./usr/share/doc/zlib-common/copyright" },
];

/** Every details entry under `cacheRoot`, by file name (the layer digest's hex). */
async function keptDetails(cacheRoot: string): Promise<Map<string, LayerScan<Found>>> {
  const at = join(cacheRoot, "layer-details", "v1");
  const names = await readdir(at).catch(() => []);
  const out = new Map<string, LayerScan<Found>>();
  for (const name of names.sort()) out.set(name, JSON.parse(await readFile(join(at, name), "utf8")));
  return out;
}

/** The details of `blobs`, read back from their bytes into a fresh cache (a layer read each). */
async function detailsReadBack(store: string, blobs: LayerBlob[]): Promise<Map<string, LayerScan<Found>>> {
  const cacheRoot = await tempDir("details-read");
  // The store serves the bytes; the image only names the layers.
  const layers = blobs.map((b) => ({
    descriptor: { mediaType: b.mediaType, digest: b.digest, size: b.size },
    diffId: b.diffId,
    bytes: Buffer.alloc(0),
  }));
  const image = syntheticImage(layers, { blobs: storeBlobSource(new ContentStore(store)) });
  await scanOverlay(image, "test", layerDetailsScan("test"), layerDetailsCache<Found>(cacheRoot));
  return keptDetails(cacheRoot);
}

describe("a layer's SBOM details kept as it is written", { timeout: 120_000 }, () => {
  test("package, group, base and files layers keep what reading their blobs back finds", async () => {
    const work = await tempDir("details");
    const store = join(work, "store");
    const cacheRoot = join(work, "cache");
    const baseFiles = await buildPackageLayer(await packageInput(work, "base-files", BASE_FILES));
    const docs = await buildPackageLayer(await packageInput(work, "libz1", SHARED_DOCS, true));
    const group = await buildGroupLayer(
      [
        await packageInput(work, "alpha", [
          { name: "./usr/share/doc/alpha/copyright", body: copyright("MIT") },
        ]),
        await packageInput(work, "beta", [
          { name: "./usr/share/doc/beta", type: "symlink", linkname: "alpha" },
        ]),
      ],
      new LayerCache(cacheRoot, store),
      { debSha256: "1".repeat(64), epoch: 0, keepDocs: true, compression: GZIP },
      "amd64",
    );
    const accounts = { users: [], groups: [{ name: "root", gid: 0 }] };
    const base = await buildBaseLayer({
      architecture: "amd64",
      accounts,
      store,
      epoch: 0,
      compression: GZIP,
      cacheRoot,
    });
    const files = await buildEntriesLayer({
      entries: [
        { path: "/etc/os-release", type: "file", mode: 0o644, uid: 0, gid: 0, body: Buffer.from(OS_RELEASE) },
        { path: "usr/share/doc/app", type: "symlink", mode: 0o777, uid: 0, gid: 0, linkname: "base-files" },
      ],
      store,
      epoch: 0,
      compression: GZIP,
      cacheRoot,
    });
    const blobs = [base, baseFiles, docs, group.record, files];

    const kept = await keptDetails(cacheRoot);
    assert.deepEqual([...kept.keys()], blobs.map((b) => `${b.digest.slice("sha256:".length)}.json`).sort());
    assert.deepEqual(kept, await detailsReadBack(store, blobs));
    const kinds = new Set([...kept.values()].flatMap((s) => s.kept.map(([, found]) => found.kind)));
    assert.deepEqual([...kinds].sort(), ["copyright", "debian-version", "doc-link", "dpkg", "os-release"]);
  });

  test("a layer keeps no details when no cache root is given", async () => {
    const work = await tempDir("details-none");
    const input = await packageInput(work, "base-files", BASE_FILES);
    await buildPackageLayer({ ...input, cacheRoot: undefined });
    assert.equal((await keptDetails(join(work, "cache"))).size, 0);
  });
});
