import { constants } from "node:fs";
import { open, realpath } from "node:fs/promises";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { MERGED_USR_DIRS, mergedUsrPath } from "../debian/merged-usr.js";
import { type LayerEntry, normalisePath } from "../oci/layer-entry.js";
import { StrataError } from "../util/errors.js";
import type { Spec, SpecErrorAt, SpecFile } from "./spec.js";

/** The largest `files: source:` a spec may copy into an image (read whole, so bounded). */
export const MAX_FILE_SOURCE_BYTES = 64 * 1024 * 1024;

/**
 * Checks every `files:` entry before any work: a path that would replace a merged-/usr symlink is
 * refused, and each `source:` must be a regular file of at most MAX_FILE_SOURCE_BYTES whose real
 * path (symlinks resolved) lies inside the spec's files root.
 */
export async function checkFileSources(spec: Spec, errorAt = plainErrorAt(spec)): Promise<void> {
  for (const [i, f] of spec.files.entries()) {
    imagePath(spec, f, i, errorAt);
    if (f.source !== undefined) await readSource(spec, f, i, errorAt, false);
  }
}

/** The spec's `files:` as layer entries; `source` paths are relative to the spec's directory. */
export async function specFileEntries(spec: Spec): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [];
  const errorAt = plainErrorAt(spec);
  for (const [i, f] of spec.files.entries()) {
    const body =
      f.content !== undefined ? Buffer.from(f.content, "utf8") : await readSource(spec, f, i, errorAt, true);
    entries.push({
      path: imagePath(spec, f, i, errorAt),
      type: "file",
      mode: f.mode,
      uid: f.uid,
      gid: f.gid,
      body,
    });
  }
  return entries;
}

/** Where an entry lands: under /usr for /bin, /sbin and /lib*, as package paths do. */
function imagePath(spec: Spec, f: SpecFile, i: number, errorAt: SpecErrorAt): string {
  const path = normalisePath(f.path.replace(/^\/+/, ""), `${spec.path}: files[${i}]`);
  if (path === "" || MERGED_USR_DIRS.includes(path)) {
    throw errorAt(["files", i, "path"], `${f.path} would replace the image's / or a merged-/usr symlink`);
  }
  return `/${mergedUsrPath(path)}`;
}

/** Opens a source confined to the files root; reads it (bounded) when `read`, else only checks it. */
async function readSource(
  spec: Spec,
  f: SpecFile,
  i: number,
  errorAt: SpecErrorAt,
  read: true,
): Promise<Buffer>;
async function readSource(
  spec: Spec,
  f: SpecFile,
  i: number,
  errorAt: SpecErrorAt,
  read: false,
): Promise<undefined>;
async function readSource(
  spec: Spec,
  f: SpecFile,
  i: number,
  errorAt: SpecErrorAt,
  read: boolean,
): Promise<Buffer | undefined> {
  const given = f.source!;
  const real = await realpath(resolve(dirname(spec.path), given)).catch(() => {
    throw errorAt(["files", i, "source"], `${given}: no such file`);
  });
  const root = await realpath(spec.filesRoot).catch(() => spec.filesRoot);
  const inside = relative(root, real);
  if (inside === "" || inside.startsWith("..") || isAbsolute(inside)) {
    throw errorAt(
      ["files", i, "source"],
      `${given} is outside ${root}`,
      "keep sources beside the spec, or widen with --files-root DIR",
    );
  }
  // O_NONBLOCK: a FIFO must not hang the open; it is refused as not a regular file below.
  const fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const info = await fh.stat();
    if (!info.isFile()) throw errorAt(["files", i, "source"], `${given} is not a regular file`);
    if (info.size > MAX_FILE_SOURCE_BYTES) {
      throw errorAt(
        ["files", i, "source"],
        `${given} is ${info.size} bytes, more than ${MAX_FILE_SOURCE_BYTES}`,
      );
    }
    if (!read) return undefined;
    const body = Buffer.alloc(info.size);
    const { bytesRead } = await fh.read(body, 0, info.size, 0);
    if (bytesRead !== info.size) throw errorAt(["files", i, "source"], `${given} changed while it was read`);
    return body;
  } finally {
    await fh.close();
  }
}

/** Errors without a line and column, for when the spec's text is no longer at hand. */
function plainErrorAt(spec: Spec): SpecErrorAt {
  return (nodePath, message, hint) =>
    new StrataError("SPEC_INVALID", `${spec.path}: ${nodePath.join(".")}: ${message}`, { hint });
}
