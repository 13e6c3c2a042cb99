import { posix } from "node:path";
import type { Image } from "../oci/image.js";
import { StrataError } from "../util/errors.js";
import { visitLayer } from "./layer-entries.js";
import { type EntryScan, type LayerChanges, type LayerScan, LayerScanner } from "./layer-scan.js";

/**
 * The files a container of an image sees under a few roots, read from the layers bottom up with OCI
 * whiteouts applied as an overlay mount would: `.wh.NAME` hides NAME of lower layers,
 * `.wh..wh..opq` hides everything lower in its directory, and an entry of an upper layer replaces
 * the same path (a non-directory also hides what was below it). Only paths that bear on the roots
 * are tracked, and only what `keep` makes of an entry is held: the layers are streamed.
 */

export interface OverlayScan<T> extends EntryScan<T> {
  /** Which layers to read (by index); default all. */
  only?: (index: number) => boolean;
}

/** Where layer scans are kept between runs, by layer digest (src/inventory/details-cache.ts). */
export interface LayerScanCache<T> {
  get(digest: string): Promise<LayerScan<T> | undefined>;
  put(digest: string, scan: LayerScan<T>): Promise<void>;
}

export interface Kept<T> {
  layer: { index: number; digest: string };
  value: T;
}

/** `path` and its ancestors, the root ("") included. */
function selfAndAncestors(path: string): string[] {
  const out = [path];
  for (let dir = posix.dirname(path); dir !== "."; dir = posix.dirname(dir)) out.push(dir);
  if (path !== "") out.push("");
  return out;
}

/** Whether a lower layer's `path` survives this layer's changes. */
function survives(path: string, changes: LayerChanges): boolean {
  if (changes.replaced.has(path)) return false;
  const chain = selfAndAncestors(path);
  if (chain.some((p) => changes.hidden.has(p))) return false;
  return !chain.slice(1).some((dir) => changes.opaque.has(dir));
}

/** One layer read for a scan: what it hides and replaces, and what `keep` made of its entries. */
async function scanLayer<T>(
  image: Image,
  layer: Image["manifest"]["layers"][number],
  where: string,
  scan: OverlayScan<T>,
): Promise<LayerScan<T>> {
  const scanner = new LayerScanner(scan, `${where}: layer ${layer.digest}`);
  await visitLayer(image, layer, where, (entry) => scanner.add(entry));
  return scanner.result();
}

/**
 * The entries under `scan.roots` a container of `image` sees, each with what `keep` made of it.
 * With a `cache`, a layer scanned before (by digest) is not read again.
 */
export async function scanOverlay<T>(
  image: Image,
  where: string,
  scan: OverlayScan<T>,
  cache?: LayerScanCache<T>,
): Promise<Map<string, Kept<T>>> {
  const seen = new Map<string, Kept<T>>();
  for (const [index, layer] of image.manifest.layers.entries()) {
    if (scan.only !== undefined && !scan.only(index)) continue;
    let layerScan = await cache?.get(layer.digest);
    if (layerScan === undefined) {
      layerScan = await scanLayer(image, layer, where, scan);
      await cache?.put(layer.digest, layerScan);
    }
    const changes: LayerChanges = {
      hidden: new Set(layerScan.hidden),
      opaque: new Set(layerScan.opaque),
      replaced: new Set(layerScan.replaced),
    };
    for (const path of [...seen.keys()]) if (!survives(path, changes)) seen.delete(path);
    for (const [path, value] of layerScan.kept)
      seen.set(path, { layer: { index, digest: layer.digest }, value });
    if (seen.size > scan.maxKept)
      throw new StrataError("IO", `${where}: more than ${scan.maxKept} records in its layers`);
  }
  return seen;
}
