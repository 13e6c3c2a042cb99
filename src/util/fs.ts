import { randomBytes } from "node:crypto";
import { closeSync, constants, createWriteStream, fstatSync, openSync, readSync, rmSync } from "node:fs";
import { access, mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { collectAtMost } from "./collect.js";

/** A temp path in the same directory as `path`, so the final rename is atomic. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/** Temp files being written now: a process that exits mid-write (after another failure) removes them. */
const inFlight = new Set<string>();
let removedOnExit = false;

/**
 * Runs `work`, which writes `tmp` and renames it into place: if it fails, `tmp` is removed; if the
 * process exits before it settles, `tmp` is removed on the way out.
 */
async function writingTemp(tmp: string, work: () => Promise<void>): Promise<void> {
  if (!removedOnExit) {
    removedOnExit = true;
    process.on("exit", () => {
      for (const file of inFlight) rmSync(file, { force: true });
    });
  }
  inFlight.add(tmp);
  try {
    await work();
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    inFlight.delete(tmp);
  }
}

/**
 * Writes `path` all at once or not at all: data goes to a temp file in the same directory, is
 * fsynced, then renamed over the target. A crash leaves at most a stray temp file, never a torn one.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  await writingTemp(tmp, async () => {
    const fh = await open(tmp, "w", mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  });
}

/**
 * Streams `source` into `path` atomically. `verify` runs after the bytes are on disk and before the
 * rename; if it throws, the temp file is removed and nothing appears at `path`.
 */
export async function writeStreamAtomic(
  path: string,
  source: Readable | AsyncIterable<Uint8Array>,
  verify?: (tmpPath: string) => Promise<void> | void,
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  await writingTemp(tmp, async () => {
    await pipeline(source, createWriteStream(tmp, { mode: 0o644 }));
    if (verify) await verify(tmp);
    await rename(tmp, path);
  });
}

export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The bytes of a regular file of at most `maxBytes`, for paths that come from outside (a lock, an
 * image's record): a device (`/dev/zero`), a FIFO or a directory is refused, and opening never
 * blocks on a FIFO. Errors are the file system's, or `Error` with what is wrong.
 */
export async function readRegularFile(path: string, maxBytes: number): Promise<Buffer> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const into = new BoundedRead(checkedSize(await fh.stat(), maxBytes), maxBytes);
    for (;;) {
      const space = into.space();
      const { bytesRead } = await fh.read(into.buffer, into.length, space, null);
      if (!into.advance(bytesRead)) return into.bytes();
    }
  } finally {
    await fh.close();
  }
}

/**
 * readRegularFile for a file a user named (a policy, a feed, a PEM): any failure is one line,
 * `fail(why)`, with why as a person reads it ("no such file", "not a regular file", "...bytes").
 */
export async function readNamedFile(
  path: string,
  maxBytes: number,
  fail: (why: string) => Error,
): Promise<Buffer> {
  try {
    return await readRegularFile(path, maxBytes);
  } catch (err) {
    throw fail(whyUnread(err));
  }
}

/**
 * readNamedFile, or standard input for "-" (a pod list piped from kubectl), held to the same bound:
 * `fail(why)` for anything that keeps it from being read.
 */
export async function readNamedInput(
  source: string,
  maxBytes: number,
  fail: (why: string) => Error,
): Promise<Buffer> {
  if (source !== "-") return readNamedFile(source, maxBytes, fail);
  return collectAtMost(process.stdin, maxBytes, () => fail(`more than ${maxBytes} bytes`));
}

/** What keeps a named file from being read, in words. */
export function whyUnread(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === "ENOENT") return "no such file";
  if (e.code === "EACCES") return "permission denied";
  return e.code ?? e.message;
}

/** The same, synchronously (a policy file's keys are read as it is parsed). */
export function readRegularFileSync(path: string, maxBytes: number): Buffer {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const into = new BoundedRead(checkedSize(fstatSync(fd), maxBytes), maxBytes);
    for (;;) {
      const space = into.space();
      if (!into.advance(readSync(fd, into.buffer, into.length, space, null))) return into.bytes();
    }
  } finally {
    closeSync(fd);
  }
}

function checkedSize(
  stat: { isFile(): boolean; isDirectory(): boolean; size: number },
  maxBytes: number,
): number {
  if (stat.isDirectory()) throw new Error("a directory, not a regular file");
  if (!stat.isFile()) throw new Error("not a regular file");
  if (stat.size > maxBytes) throw new Error(`${stat.size} bytes, more than ${maxBytes}`);
  return stat.size;
}

/**
 * A buffer sized for the file as stat saw it (one byte more, to see it grow), doubled up to the
 * bound if it did grow: a bound of megabytes costs nothing for a file of kilobytes.
 */
class BoundedRead {
  buffer: Buffer;
  length = 0;

  constructor(
    size: number,
    private readonly maxBytes: number,
  ) {
    this.buffer = Buffer.allocUnsafe(Math.min(size, maxBytes) + 1);
  }

  /** Room left for the next read, grown first if full: call it before reading into `buffer`. */
  space(): number {
    if (this.length === this.buffer.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.buffer.length * 2, this.maxBytes + 1));
      this.buffer.copy(grown, 0, 0, this.length);
      this.buffer = grown;
    }
    return this.buffer.length - this.length;
  }

  /** Counts `bytesRead`; false at the end of the file. */
  advance(bytesRead: number): boolean {
    if (bytesRead === 0) return false;
    this.length += bytesRead;
    if (this.length > this.maxBytes) throw new Error(`more than ${this.maxBytes} bytes`);
    return true;
  }

  bytes(): Buffer {
    return this.buffer.subarray(0, this.length);
  }
}
