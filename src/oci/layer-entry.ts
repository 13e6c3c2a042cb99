import { StrataError } from "../util/errors.js";
import type { SpooledBody } from "../util/spool.js";

/**
 * An entry of a layer before it is written (src/layers/write-layer.ts), and the path rules every
 * layer strata writes follows: below effects/ and spec/, which make entries too.
 */

export interface LayerEntry {
  /** Relative, normalised path (no "./", no trailing "/"). */
  path: string;
  type: "file" | "dir" | "symlink" | "hardlink";
  mode: number;
  uid: number;
  gid: number;
  /** Symlink target (as stored), or the path of the hardlinked file entry. */
  linkname?: string;
  /** File contents; absent means empty (unless spooled). */
  body?: Uint8Array;
  /** File contents waiting on disk (a package's bodies past the spool's memory budget). */
  spooled?: SpooledBody;
}

/** Path components of `target` seen from directory `from`, or undefined when it climbs above "/". */
export function resolveLexically(from: string[], target: string): string[] | undefined {
  const parts = [...from];
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  return parts;
}

export function parentParts(path: string): string[] {
  return path.split("/").slice(0, -1);
}

/** Strips "./" and empty components; refuses absolute paths, "..", whiteouts and control characters. "" is the root. */
export function normalisePath(path: string, what: string): string {
  if (path.startsWith("/")) throw unsafePath(what, path, "absolute path");
  // dpkg refuses them too; a newline would also forge lines of the md5sums scanners read.
  if (/[\0-\x1f\x7f]/.test(path))
    throw unsafePath(what, JSON.stringify(path), "control character in the path");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw unsafePath(what, path, "'..' component");
    // In a layer, .wh.NAME deletes NAME of the layers below and .wh..wh..opq empties a directory.
    if (part.startsWith(".wh."))
      throw unsafePath(what, path, "an OCI whiteout name (it would hide lower layers' files)");
    parts.push(part);
  }
  return parts.join("/");
}

/** Proper ancestors of a path, nearest last: "a/b/c" → ["a", "a/b"]. */
export function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf("/"); i > 0; i = path.indexOf("/", i + 1)) out.push(path.slice(0, i));
  return out;
}

export function unsafePath(what: string, path: string, why: string): StrataError {
  return new StrataError("UNSAFE_PATH", `${what}: ${path}: ${why}`);
}

/** A file entry's bytes, from memory or from its spool. */
export async function* bodyChunks(entry: LayerEntry): AsyncGenerator<Uint8Array> {
  if (entry.spooled) yield* entry.spooled.spool.read(entry.spooled);
  else if (entry.body && entry.body.length > 0) yield entry.body;
}

/** A small file entry's whole bytes (certificates, scripts' sources): only for files known to be small. */
export async function entryBytes(entry: LayerEntry): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of bodyChunks(entry)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

export function bodySize(entry: LayerEntry): number {
  return entry.spooled?.size ?? entry.body?.length ?? 0;
}
