import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { isStrataError, StrataError } from "../util/errors.js";
import { xzDecompressor } from "../util/xz.js";
import { xzDeclaredSize } from "../util/xz-index.js";
import { type ArMember, openArMember, readArMember } from "./ar.js";

/** control.tar.xz is read whole to find its size; real ones are a few KiB, bigger ones go apart. */
const CONTROL_XZ_MAX_BYTES = 1 << 20;
/** An .xz stream's header magic: data.tar.xz must start with one, as its own decoder requires. */
const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/** A .deb's control.tar and data.tar, decoded by one xz child. */
export interface SharedXz {
  /** control.tar, whole. */
  controlTar: Buffer;
  /** data.tar, as the child decodes it after control.tar: read it once. */
  dataTar: Readable;
  /** Ends the child, unless data.tar was read to its end. */
  close(): void;
}

/**
 * One `xz -dc` for both .xz members of a .deb: it is fed control.tar.xz, then data.tar.xz (xz
 * decodes concatenated streams as one), and its output is cut where control.tar.xz's index says
 * control.tar ends. Starting a child forks the whole process, which costs ~10 ms of CPU and faults
 * once it holds a few hundred MB, so one child a .deb instead of two is a saving worth having.
 *
 * xz checks every index against the blocks it decodes: an index that lies fails the decoding, at the
 * latest before data.tar's end, so a layer is never made of a misplaced cut. Undefined (decode the
 * members apart) when control.tar.xz is too big to read whole, its index does not parse, or it
 * declares more than `cap` bytes, or data.tar.xz does not start as an .xz stream (the separate
 * decoders then report that as they always have).
 */
export async function openSharedXz(
  path: string,
  control: ArMember,
  data: ArMember,
  cap: number,
): Promise<SharedXz | undefined> {
  if (control.size > CONTROL_XZ_MAX_BYTES) return undefined;
  const controlXz = await readArMember(path, control);
  const size = xzDeclaredSize(controlXz);
  if (size === undefined || size > cap) return undefined;
  // Fed after control.tar.xz, data.tar.xz could start with stream padding, or be empty, and xz
  // would take it; decoded alone it is refused: anything but an .xz stream's start goes apart.
  const dataHead = await readArMember(path, { ...data, size: Math.min(data.size, XZ_MAGIC.length) });
  if (!dataHead.equals(XZ_MAGIC)) return undefined;

  const xz = xzDecompressor();
  const input = Readable.from(concatenated(controlXz, openArMember(path, data)));
  pipeline(input, xz).catch(() => {}); // a failure destroys xz, whose output reports it
  const output = xz[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    const { head, rest } = await readHead(output, size);
    let ended = false;
    const close = () => {
      if (!ended) xz.destroy();
    };
    async function* dataTar(): AsyncGenerator<Buffer> {
      try {
        if (rest.length > 0) yield rest;
        for (let next = await output.next(); !next.done; next = await output.next()) yield next.value;
        ended = true;
      } finally {
        close();
      }
    }
    return { controlTar: head, dataTar: Readable.from(dataTar(), { objectMode: false }), close };
  } catch (err) {
    xz.destroy();
    if (isStrataError(err)) throw err;
    throw new StrataError("DEB_INVALID", `${path}: ${control.name}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

async function* concatenated(first: Buffer, then: Readable): AsyncGenerator<Buffer> {
  yield first;
  for await (const chunk of then) yield chunk as Buffer;
}

/** The first `size` bytes of the output, and what came with them past that. */
async function readHead(
  output: AsyncIterator<Buffer>,
  size: number,
): Promise<{ head: Buffer; rest: Buffer }> {
  const chunks: Buffer[] = [];
  let have = 0;
  while (have < size) {
    const next = await output.next();
    if (next.done) throw new Error(`xz ended after ${have} of the ${size} bytes its index declares`);
    chunks.push(next.value);
    have += next.value.length;
  }
  const all = Buffer.concat(chunks);
  return { head: all.subarray(0, size), rest: all.subarray(size) };
}
