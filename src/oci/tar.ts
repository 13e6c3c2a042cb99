import { Readable, type Writable } from "node:stream";
import { compareText } from "../util/order.js";

/**
 * A deterministic tar writer: the same entries always give the same bytes, on any machine.
 * Reading tar stays with tar-stream; writing is ours because layer digests depend on every byte.
 *
 * Format (what the bytes are, so that other writers can match them):
 * - POSIX ustar headers: magic "ustar\0", version "00"; numeric fields in zero-padded octal ending
 *   in NUL (mode/uid/gid 7 digits, size/mtime 11 digits), checksum as 6 octal digits, NUL, space;
 *   devmajor/devminor "0000000\0"; uname and gname empty; no atime/ctime anywhere.
 * - mode is masked to 07777; directories end with "/"; links and directories have size 0.
 * - A path longer than 100 bytes is split at a "/" into prefix (≤155) and name (≤100) when it can be.
 * - A PAX extended header (type "x") comes first only when ustar cannot hold the entry: a path that
 *   does not split, a linkname over 100 bytes, a non-ASCII path or linkname, a size ≥ 8 GiB, a
 *   uid/gid ≥ 2^21, an mtime outside 0..8^11-1. It holds only the keys that need it, sorted by key.
 *   Its own header is named `PaxHeader/<basename>` (basename ASCII-folded, cut to 90 bytes), mode
 *   0644, owner 0:0, the entry's mtime (clamped to the ustar range); the ustar header that follows
 *   carries an ASCII-folded, truncated copy of the overridden fields.
 * - The archive ends with two 512-byte zero blocks.
 */
export interface TarEntry {
  /** Relative path without "./"; a directory's trailing "/" is added when missing. */
  path: string;
  type: "file" | "dir" | "symlink" | "hardlink";
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch, an integer. */
  mtime: number;
  /** Body length, for files (0 when omitted). */
  size?: number;
  /** Target of a symlink (any text) or hardlink (the path of an earlier entry). */
  linkname?: string;
}

const BLOCK = 512;
const USTAR_NAME = 100;
const USTAR_PREFIX = 155;
const USTAR_LINKNAME = 100;
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;
const PAX_NAME_BASENAME_BYTES = 90;

const TYPE_FLAG: Record<TarEntry["type"], string> = { file: "0", hardlink: "1", symlink: "2", dir: "5" };

/** The end-of-archive marker: two zero blocks. */
export const TAR_END: Buffer = Buffer.alloc(2 * BLOCK);

/** Zero bytes that pad a body of `size` bytes to a whole block. */
export function tarPadding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** The header block(s) for one entry: a PAX header and its records first when needed, then ustar. */
export function tarHeader(entry: TarEntry): Buffer {
  const path = entryPath(entry);
  const size = entry.type === "file" ? (entry.size ?? 0) : 0;
  const linkname = entry.type === "symlink" || entry.type === "hardlink" ? (entry.linkname ?? "") : "";
  checkEntry(entry, path, size, linkname);

  const pax: [string, string][] = [];
  const split = isAscii(path) ? splitUstarPath(path) : undefined;
  if (!split) pax.push(["path", path]);
  if (linkname !== "" && (!isAscii(linkname) || Buffer.byteLength(linkname) > USTAR_LINKNAME)) {
    pax.push(["linkpath", linkname]);
  }
  if (size > MAX_OCTAL_11) pax.push(["size", String(size)]);
  if (entry.uid > MAX_OCTAL_7) pax.push(["uid", String(entry.uid)]);
  if (entry.gid > MAX_OCTAL_7) pax.push(["gid", String(entry.gid)]);
  if (entry.mtime < 0 || entry.mtime > MAX_OCTAL_11) pax.push(["mtime", String(entry.mtime)]);

  const ustar = ustarBlock({
    name: split ? split.name : asciiFold(path).subarray(-USTAR_NAME),
    prefix: split ? split.prefix : Buffer.alloc(0),
    mode: entry.mode & 0o7777,
    uid: Math.min(entry.uid, MAX_OCTAL_7),
    gid: Math.min(entry.gid, MAX_OCTAL_7),
    size: Math.min(size, MAX_OCTAL_11),
    mtime: clampMtime(entry.mtime),
    typeflag: TYPE_FLAG[entry.type],
    linkname: asciiFold(linkname).subarray(0, USTAR_LINKNAME),
  });
  if (pax.length === 0) return ustar;

  pax.sort((a, b) => compareText(a[0], b[0]));
  const records = Buffer.concat(pax.map(([key, value]) => paxRecord(key, value)));
  const paxHeader = ustarBlock({
    name: Buffer.concat([
      Buffer.from("PaxHeader/"),
      asciiFold(baseName(path)).subarray(0, PAX_NAME_BASENAME_BYTES),
    ]),
    prefix: Buffer.alloc(0),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: records.length,
    mtime: clampMtime(entry.mtime),
    typeflag: "x",
    linkname: Buffer.alloc(0),
  });
  return Buffer.concat([paxHeader, records, tarPadding(records.length), ustar]);
}

/**
 * Writes entries to a stream, waiting for `drain` when the stream is full. Each body must be exactly
 * `entry.size` bytes. `end()` writes the end marker and ends the stream.
 */
export class TarWriter {
  private failure: Error | undefined;

  constructor(private readonly out: Writable) {
    out.once("error", (err) => {
      this.failure ??= err;
    });
  }

  async entry(entry: TarEntry, body?: Uint8Array | Readable): Promise<void> {
    const declared = entry.type === "file" ? (entry.size ?? 0) : 0;
    if (body !== undefined && entry.type !== "file") {
      throw new Error(`tar: ${entry.path}: only files have a body`);
    }
    await this.write(tarHeader(entry));
    let written = 0;
    if (body instanceof Readable) {
      for await (const chunk of body) {
        written += (chunk as Buffer).length;
        if (written > declared) break;
        await this.write(chunk as Buffer);
      }
    } else if (body !== undefined) {
      written = body.length;
      if (written === declared) await this.write(body);
    }
    if (written !== declared) {
      throw new Error(`tar: ${entry.path}: body is ${written} bytes, header says ${declared}`);
    }
    const pad = tarPadding(declared);
    if (pad.length > 0) await this.write(pad);
  }

  async end(): Promise<void> {
    await this.write(TAR_END);
    await new Promise<void>((resolve, reject) => {
      this.out.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
  }

  private async write(chunk: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.out.destroyed) throw new Error("tar: output stream was closed");
    if (this.out.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        this.out.off("drain", onDrain);
        this.out.off("close", onClose);
        this.out.off("error", done);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => done();
      const onClose = () => done(this.failure ?? new Error("tar: output stream was closed"));
      this.out.on("drain", onDrain);
      this.out.on("close", onClose);
      this.out.on("error", done);
    });
  }
}

function entryPath(entry: TarEntry): string {
  if (entry.type === "dir" && !entry.path.endsWith("/")) return `${entry.path}/`;
  return entry.path;
}

function checkEntry(entry: TarEntry, path: string, size: number, linkname: string): void {
  const where = `tar: ${path}`;
  if (path === "" || path === "/") throw new Error(`${where}: empty path`);
  if (path.includes("\0") || linkname.includes("\0")) throw new Error(`${where}: NUL in path or link name`);
  if (entry.type === "dir" && path.slice(0, -1).endsWith("/")) throw new Error(`${where}: double slash`);
  for (const [name, value] of [
    ["mode", entry.mode],
    ["uid", entry.uid],
    ["gid", entry.gid],
    ["size", size],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new Error(`${where}: ${name} ${value} is not a count`);
  }
  if (!Number.isSafeInteger(entry.mtime)) throw new Error(`${where}: mtime ${entry.mtime} is not an integer`);
  if ((entry.type === "symlink" || entry.type === "hardlink") && linkname === "") {
    throw new Error(`${where}: ${entry.type} without a target`);
  }
}

/** Splits an ASCII path into ustar's prefix and name, or returns undefined when it cannot. */
function splitUstarPath(path: string): { name: Buffer; prefix: Buffer } | undefined {
  const bytes = Buffer.from(path, "latin1");
  if (bytes.length <= USTAR_NAME) return { name: bytes, prefix: Buffer.alloc(0) };
  // The split "/" is dropped, so the prefix is at most 155 bytes and the name 1..100 bytes; the
  // trailing "/" of a directory stays in the name. Take the longest prefix that fits.
  const last = Math.min(USTAR_PREFIX, bytes.length - 2);
  for (let i = last; i > 0; i--) {
    if (bytes[i] !== 0x2f) continue;
    const name = bytes.subarray(i + 1);
    if (name.length > USTAR_NAME) return undefined;
    if (name.length === 0 || name[0] === 0x2f) return undefined;
    return { name, prefix: bytes.subarray(0, i) };
  }
  return undefined;
}

function paxRecord(key: string, value: string): Buffer {
  // "<len> <key>=<value>\n" where <len> counts the whole record, its own digits included.
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return Buffer.from(`${len}${body}`, "utf8");
}

interface UstarFields {
  name: Buffer;
  prefix: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: Buffer;
}

function ustarBlock(f: UstarFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  f.name.copy(block, 0);
  block.write(octal(f.mode, 7), 100, "latin1");
  block.write(octal(f.uid, 7), 108, "latin1");
  block.write(octal(f.gid, 7), 116, "latin1");
  block.write(octal(f.size, 11), 124, "latin1");
  block.write(octal(f.mtime, 11), 136, "latin1");
  block.write("        ", 148, "latin1");
  block.write(f.typeflag, 156, "latin1");
  f.linkname.copy(block, 157);
  block.write("ustar\u000000", 257, "latin1");
  // uname (265) and gname (297) stay empty.
  block.write(octal(0, 7), 329, "latin1");
  block.write(octal(0, 7), 337, "latin1");
  f.prefix.copy(block, 345);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\u0000 `, 148, "latin1");
  return block;
}

function octal(value: number, digits: number): string {
  return `${value.toString(8).padStart(digits, "0")}\u0000`;
}

function clampMtime(mtime: number): number {
  return Math.min(Math.max(mtime, 0), MAX_OCTAL_11);
}

function isAscii(text: string): boolean {
  return /^[\x01-\x7f]*$/.test(text);
}

/** UTF-8 bytes with every non-ASCII byte replaced by "_": a stable stand-in for ustar's fields. */
function asciiFold(text: string): Buffer {
  const bytes = Buffer.from(text, "utf8");
  for (let i = 0; i < bytes.length; i++) if (bytes[i] >= 0x80) bytes[i] = 0x5f;
  return bytes;
}

function baseName(path: string): string {
  const trimmed = path.endsWith("/") ? path.slice(0, -1) : path;
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}
