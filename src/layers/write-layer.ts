import { PassThrough, Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { keepLayerDetails } from "../inventory/layer-details.js";
import type { VisitedEntry } from "../inventory/layer-entries.js";
import { type Compression, createCompressor, layerMediaType } from "../oci/compress.js";
import {
  ancestors,
  bodyChunks,
  bodySize,
  entryBytes,
  type LayerEntry,
  normalisePath,
  parentParts,
  resolveLexically,
  unsafePath,
} from "../oci/layer-entry.js";
import { TarWriter } from "../oci/tar.js";
import { cacheStore } from "../util/cas.js";
import { StrataError } from "../util/errors.js";
import { Digester } from "../util/hash.js";

/**
 * The canonical tar writer: every layer strata writes (package, group, base and files layers) is
 * written here, byte for byte the same on every run and machine (design.md §1-3). A change here
 * that alters any output byte bumps LAYER_FORMAT_VERSION (src/layers/layer.ts).
 *
 * Canonical form of every layer strata writes (writeLayer):
 * - entries sorted by the bytewise order of their UTF-8 path (no trailing "/"), which also puts
 *   every directory before its contents; each missing parent directory is added as 0755 0:0;
 * - every mtime is the caller's epoch; owners numeric, names empty; modes as given (07777 mask);
 * - no path twice; within a group of hardlinks, the first path in that order carries the body and
 *   the others link to it.
 */

/** A layer written into the ContentStore, and the paths it holds. */
export interface LayerBlob {
  /** sha256 of the compressed blob, which is in the ContentStore under this digest. */
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar. */
  diffId: string;
  mediaType: string;
  /** Non-directory paths of the layer, sorted as in the tar; for file-conflict detection. */
  files: string[];
  /** Directory paths of the layer, sorted as in the tar; for type-conflict detection. */
  dirs: string[];
}

export interface LayerWriteOptions {
  /** ContentStore root. */
  store: string;
  /** mtime of every entry, seconds. */
  epoch: number;
  compression: Compression;
  /** Names the layer in errors, e.g. the package name. */
  what: string;
  /** The cache root where the layer's SBOM details are kept as it is written; none: not kept. */
  cacheRoot?: string;
}

/**
 * Writes entries as one canonical layer into the ContentStore (see the top of this file). Refuses
 * duplicates, paths through symlinks or files, relative symlinks that climb above the root, and
 * hardlinks to anything but a file entry of the same list.
 */
export async function writeLayer(entries: LayerEntry[], opts: LayerWriteOptions): Promise<LayerBlob> {
  const ordered = canonicalOrder(entries, opts.what);
  const store = cacheStore(opts.store);
  const tar = new PassThrough({ highWaterMark: 1 << 20 });
  const diff = new Digester();
  const compressor = createCompressor(opts.compression);
  const hashing = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      diff.update(chunk);
      done(null, chunk);
    },
  });

  const writing = (async () => {
    const writer = new TarWriter(tar);
    try {
      for (const e of ordered) {
        const size = e.type === "file" ? bodySize(e) : 0;
        const body = e.type === "file" ? Readable.from(bodyChunks(e)) : undefined;
        await writer.entry({ ...e, mtime: opts.epoch, size }, body);
      }
      await writer.end();
    } catch (err) {
      tar.destroy(err as Error);
      throw err;
    }
  })();
  const [, , stored] = await Promise.all([
    writing,
    pipeline(tar, hashing, compressor),
    store.put(compressor),
  ]);
  const digest = `sha256:${stored.hex}`;
  if (opts.cacheRoot !== undefined)
    await keepLayerDetails(
      digest,
      ordered.map((e) => asRead(e, opts.what)),
      opts.cacheRoot,
      opts.what,
    );
  return {
    digest,
    size: stored.size,
    diffId: `sha256:${diff.hex()}`,
    mediaType: layerMediaType(opts.compression),
    files: ordered.filter((e) => e.type !== "dir").map((e) => e.path),
    dirs: ordered.filter((e) => e.type === "dir").map((e) => e.path),
  };
}

const READ_TYPES = { file: "file", dir: "directory", symlink: "symlink", hardlink: "link" } as const;

/**
 * A written entry as the reader of its tar sees it (src/inventory/layer-entries.ts): tar-stream's
 * type names, a link's target, the size the header says, the body from memory or the spool. Its
 * path is the reader's already: canonicalOrder took only normalised paths.
 */
function asRead(entry: LayerEntry, what: string): VisitedEntry {
  const size = entry.type === "file" ? bodySize(entry) : 0;
  return {
    path: entry.path,
    type: READ_TYPES[entry.type],
    size,
    ...(entry.linkname ? { linkname: entry.linkname } : {}),
    body: async (max) => {
      if (size > max)
        throw new StrataError("IO", `${what}: ${entry.path} is ${size} bytes, more than the ${max} read`);
      return entryBytes(entry);
    },
  };
}

function canonicalOrder(entries: LayerEntry[], what: string): LayerEntry[] {
  const byPath = new Map<string, LayerEntry>();
  for (const entry of entries) {
    if (normalisePath(entry.path, what) !== entry.path || entry.path === "") {
      throw unsafePath(what, entry.path, "path is not normalised (no './', '//' or trailing '/')");
    }
    if (byPath.has(entry.path)) throw unsafePath(what, entry.path, "appears twice");
    byPath.set(entry.path, entry);
  }
  for (const entry of entries) {
    for (const dir of ancestors(entry.path)) {
      const parent = byPath.get(dir);
      if (!parent) byPath.set(dir, { path: dir, type: "dir", mode: 0o755, uid: 0, gid: 0 });
      else if (parent.type === "symlink")
        throw unsafePath(what, entry.path, `passes through the symlink ${dir}`);
      else if (parent.type !== "dir")
        throw unsafePath(what, entry.path, `passes through the non-directory ${dir}`);
    }
    if (entry.type === "symlink" && !entry.linkname?.startsWith("/")) {
      if (!entry.linkname || resolveLexically(parentParts(entry.path), entry.linkname) === undefined) {
        throw unsafePath(what, entry.path, `symlink target "${entry.linkname ?? ""}" climbs above the root`);
      }
    }
  }
  const sorted = [...byPath.values()].sort((a, b) =>
    Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)),
  );
  return orderHardlinks(sorted, byPath, what);
}

/** Each hardlink group's first path (in layer order) becomes the file; the rest link to it. */
function orderHardlinks(sorted: LayerEntry[], byPath: Map<string, LayerEntry>, what: string): LayerEntry[] {
  const firstOfGroup = new Map<string, string>();
  return sorted.map((entry) => {
    if (entry.type !== "file" && entry.type !== "hardlink") return entry;
    let root = entry;
    if (entry.type === "hardlink") {
      const target = byPath.get(entry.linkname ?? "");
      if (target?.type !== "file") {
        throw unsafePath(
          what,
          entry.path,
          `hardlink target ${entry.linkname ?? ""} is not a file of the layer`,
        );
      }
      root = target;
    }
    const first = firstOfGroup.get(root.path);
    if (first === undefined) {
      firstOfGroup.set(root.path, entry.path);
      return { ...root, path: entry.path, type: "file", linkname: undefined };
    }
    return {
      ...root,
      path: entry.path,
      type: "hardlink",
      linkname: first,
      body: undefined,
      spooled: undefined,
    };
  });
}
