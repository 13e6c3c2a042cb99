import { constants } from "node:fs";
import { open, realpath } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { StrataError } from "../util/errors.js";
import { type LayerEntry, MERGED_USR_DIRS, mergedUsrPath, normalisePath } from "./layer.js";
import type { Spec, SpecFile } from "./spec.js";

/** The largest `files: source:` a spec may copy into an image (read whole, so bounded). */
export const MAX_FILE_SOURCE_BYTES = 64 * 1024 * 1024;

/**
 * Checks every `files:` entry before any work: a path that would replace a merged-/usr symlink is
 * refused, and each `source:` must be a regular file of at most MAX_FILE_SOURCE_BYTES whose real
 * path (symlinks resolved) lies inside the spec's files root.
 */
export async function checkFileSources(spec: Spec): Promise<void> {
  for (const [i, f] of spec.files.entries()) {
    imagePath(spec, f, i);
    if (f.source !== undefined) await readSource(spec, f, i, false);
  }
}

/** The spec's `files:` as layer entries; `source` paths are relative to the spec's directory. */
export async function specFileEntries(spec: Spec): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [];
  for (const [i, f] of spec.files.entries()) {
    const body =
      f.content !== undefined ? Buffer.from(f.content, "utf8") : await readSource(spec, f, i, true);
    entries.push({ path: imagePath(spec, f, i), type: "file", mode: f.mode, uid: f.uid, gid: f.gid, body });
  }
  return entries;
}

/** Where an entry lands: under /usr for /bin, /sbin and /lib*, as package paths do. */
function imagePath(spec: Spec, f: SpecFile, i: number): string {
  const path = normalisePath(f.path.replace(/^\/+/, ""), `${spec.path}: files[${i}]`);
  if (path === "" || MERGED_USR_DIRS.includes(path)) {
    throw invalid(spec, i, "path", `${f.path} would replace the image's / or a merged-/usr symlink`);
  }
  return `/${mergedUsrPath(path)}`;
}

/** Opens a source confined to the files root; reads it (bounded) when `read`, else only checks it. */
async function readSource(spec: Spec, f: SpecFile, i: number, read: true): Promise<Buffer>;
async function readSource(spec: Spec, f: SpecFile, i: number, read: false): Promise<undefined>;
async function readSource(spec: Spec, f: SpecFile, i: number, read: boolean): Promise<Buffer | undefined> {
  const given = f.source!;
  const real = await realpath(resolve(dirname(spec.path), given)).catch(() => {
    throw invalid(spec, i, "source", `${given}: no such file`);
  });
  const root = await realpath(spec.filesRoot).catch(() => spec.filesRoot);
  const inside = relative(root, real);
  if (inside === "" || inside.startsWith("..") || isAbsolute(inside)) {
    throw invalid(
      spec,
      i,
      "source",
      `${given} is outside ${root}`,
      "keep sources beside the spec, or widen with --files-root DIR",
    );
  }
  // O_NONBLOCK: a FIFO must not hang the open; it is refused as not a regular file below.
  const fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const info = await fh.stat();
    if (!info.isFile()) throw invalid(spec, i, "source", `${given} is not a regular file`);
    if (info.size > MAX_FILE_SOURCE_BYTES) {
      throw invalid(spec, i, "source", `${given} is ${info.size} bytes, more than ${MAX_FILE_SOURCE_BYTES}`);
    }
    if (!read) return undefined;
    const body = Buffer.alloc(info.size);
    const { bytesRead } = await fh.read(body, 0, info.size, 0);
    if (bytesRead !== info.size) throw invalid(spec, i, "source", `${given} changed while it was read`);
    return body;
  } finally {
    await fh.close();
  }
}

function invalid(spec: Spec, i: number, key: string, message: string, hint?: string): StrataError {
  return new StrataError("SPEC_INVALID", `${spec.path}: files[${i}].${key}: ${message}`, { hint });
}
