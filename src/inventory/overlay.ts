import { posix } from "node:path";
import type { Image } from "../oci/image.js";
import { StrataError } from "../util/errors.js";
import { type LayerEntry, visitLayer } from "./layer-entries.js";

/**
 * The files a container of an image sees under a few roots, read from the layers bottom up with OCI
 * whiteouts applied as an overlay mount would: `.wh.NAME` hides NAME of lower layers,
 * `.wh..wh..opq` hides everything lower in its directory, and an entry of an upper layer replaces
 * the same path (a non-directory also hides what was below it). Only paths that bear on the roots
 * are tracked, and only what `keep` makes of an entry is held: the layers are streamed.
 */

export interface OverlayScan<T> {
  /** Directories or files whose contents matter ("var/lib/dpkg", "etc/os-release"). */
  roots: string[];
  /** What to hold for an entry under a root, or undefined for nothing. */
  keep(entry: LayerEntry): Promise<T | undefined> | T | undefined;
  /** The most entries held at once; more is an error (a crafted image). */
  maxKept: number;
  /** Which layers to read (by index); default all. */
  only?: (index: number) => boolean;
}

/**
 * What one layer yields to a scan (its changes, and what `keep` made of its entries), as plain
 * data: a function of the layer's bytes and the scan, so it can be kept per layer digest.
 */
export interface LayerScan<T> {
  hidden: string[];
  opaque: string[];
  replaced: string[];
  kept: [string, T][];
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

/** What one layer does to the paths below it. */
interface LayerChanges {
  /** Paths hidden with everything under them: whiteouts, and non-directories placed over them. */
  hidden: Set<string>;
  /** Directories made opaque: everything under them from lower layers is hidden. */
  opaque: Set<string>;
  /** Paths this layer puts anything at (a directory over a file replaces it too). */
  replaced: Set<string>;
}

/** Whether `path` can bear on a root: the root, an ancestor of it, or inside it. */
function bearsOn(path: string, roots: string[]): boolean {
  return roots.some(
    (root) => path === "" || path === root || root.startsWith(`${path}/`) || path.startsWith(`${root}/`),
  );
}

/** `path` and its ancestors, the root ("") included. */
function selfAndAncestors(path: string): string[] {
  const out = [path];
  for (let dir = posix.dirname(path); dir !== "."; dir = posix.dirname(dir)) out.push(dir);
  if (path !== "") out.push("");
  return out;
}

/** Notes what an entry hides or replaces; true when it is a path under a root to offer to `keep`. */
function noteEntry(entry: LayerEntry, changes: LayerChanges, roots: string[]): boolean {
  const dir = posix.dirname(entry.path) === "." ? "" : posix.dirname(entry.path);
  const base = posix.basename(entry.path);
  if (base === ".wh..wh..opq") {
    if (bearsOn(dir, roots)) changes.opaque.add(dir);
    return false;
  }
  if (base.startsWith(".wh.")) {
    const hidden = dir === "" ? base.slice(4) : `${dir}/${base.slice(4)}`;
    if (bearsOn(hidden, roots)) changes.hidden.add(hidden);
    return false;
  }
  if (!bearsOn(entry.path, roots)) return false;
  changes.replaced.add(entry.path);
  if (entry.type !== "directory") changes.hidden.add(entry.path);
  return true;
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
  const changes: LayerChanges = { hidden: new Set(), opaque: new Set(), replaced: new Set() };
  const kept = new Map<string, T>();
  await visitLayer(image, layer, where, async (entry) => {
    if (!noteEntry(entry, changes, scan.roots)) return;
    const value = await scan.keep(entry);
    if (value === undefined) return;
    kept.set(entry.path, value);
    if (kept.size > scan.maxKept)
      throw new StrataError("IO", `${where}: layer ${layer.digest} holds more than ${scan.maxKept} records`);
  });
  return {
    hidden: [...changes.hidden],
    opaque: [...changes.opaque],
    replaced: [...changes.replaced],
    kept: [...kept],
  };
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
