import { type FileHandle, mkdir, open, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { tempPathFor } from "./fs.js";

/**
 * Where a package's file bodies wait between reading data.tar (in archive order) and writing the
 * layer (in path order). Bodies stay in memory while they fit a fixed budget; the rest go to one
 * temp file beside the ContentStore's entries (swept like any temp file if strata is killed) and
 * are read back in pieces. So a worker holds at most MEMORY_BUDGET of bodies, whatever the package.
 */
export const SPOOL_MEMORY_BYTES = 32 << 20;
const READ_PIECE = 1 << 20;

/** A body on disk: a byte range of the spool file. */
export interface SpooledBody {
  spool: BodySpool;
  offset: number;
  size: number;
}

export class BodySpool {
  private file: Promise<FileHandle> | undefined;
  private readonly path: string;
  private end = 0;
  private memoryLeft = SPOOL_MEMORY_BYTES;

  /** `storeRoot`: the ContentStore root, so the temp file lands on the cache's disk. */
  constructor(storeRoot: string) {
    this.path = tempPathFor(join(storeRoot, "sha256", "spool"));
  }

  /**
   * Keeps a body of exactly `size` bytes (the caller checked `size` against its limits), passing
   * every chunk to `onChunk` on the way.
   */
  async take(
    chunks: AsyncIterable<Uint8Array>,
    size: number,
    onChunk: (chunk: Uint8Array) => void,
  ): Promise<{ body: Buffer } | { spooled: SpooledBody }> {
    if (size <= this.memoryLeft) {
      this.memoryLeft -= size;
      const body = Buffer.allocUnsafe(size);
      let at = 0;
      for await (const chunk of chunks) {
        onChunk(chunk);
        if (at + chunk.length <= size) body.set(chunk, at);
        at += chunk.length;
      }
      return { body: body.subarray(0, Math.min(at, size)) };
    }
    const file = await this.open();
    const offset = this.end;
    for await (const chunk of chunks) {
      onChunk(chunk);
      await file.write(chunk, 0, chunk.length, this.end);
      this.end += chunk.length;
    }
    return { spooled: { spool: this, offset, size: this.end - offset } };
  }

  /** A spooled body, read back in pieces of at most 1 MiB. */
  async *read(body: SpooledBody): AsyncGenerator<Buffer> {
    const file = await this.open();
    for (let at = 0; at < body.size; ) {
      const piece = Buffer.allocUnsafe(Math.min(READ_PIECE, body.size - at));
      const { bytesRead } = await file.read(piece, 0, piece.length, body.offset + at);
      if (bytesRead === 0) throw new Error(`${this.path}: spool file ended early`);
      at += bytesRead;
      yield piece.subarray(0, bytesRead);
    }
  }

  /** Closes and deletes the temp file, if there is one. */
  async remove(): Promise<void> {
    const file = this.file;
    this.file = undefined;
    const handle = await file?.catch(() => undefined); // a spool that never opened has nothing to remove
    if (handle === undefined) return;
    await handle.close();
    await rm(this.path, { force: true });
  }

  private open(): Promise<FileHandle> {
    this.file ??= mkdir(dirname(this.path), { recursive: true }).then(() => open(this.path, "w+", 0o600));
    return this.file;
  }
}
