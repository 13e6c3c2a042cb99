import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import { StrataError } from "../util/errors.js";

/**
 * A reader of the `ar` archives that wrap .deb files (deb(5)): an 8-byte magic, then per member a
 * 60-byte header (name 16, mtime 12, uid 6, gid 6, mode 8, size 10, "`\n") and the body padded to
 * an even length. Only headers are read up front; each body is streamed from its byte range, so a
 * member is never held in memory by this module.
 */
export interface ArMember {
  /** Name with GNU's trailing "/" and the space padding removed. */
  name: string;
  size: number;
  /** Byte offset of the body in the archive. */
  offset: number;
}

const MAGIC = "!<arch>\n";
const HEADER_BYTES = 60;

/** Lists the members of the ar archive at `path`. Throws DEB_INVALID when it is not one. */
export async function readArMembers(path: string): Promise<ArMember[]> {
  const file = await open(path, "r");
  try {
    const fileSize = (await file.stat()).size;
    const head = Buffer.alloc(HEADER_BYTES);
    const magic = await file.read(head, 0, MAGIC.length, 0);
    if (magic.bytesRead < MAGIC.length || head.toString("latin1", 0, MAGIC.length) !== MAGIC) {
      throw invalid(path, "not an ar archive (bad magic)");
    }
    const members: ArMember[] = [];
    let at = MAGIC.length;
    while (at < fileSize) {
      const { bytesRead } = await file.read(head, 0, HEADER_BYTES, at);
      if (bytesRead < HEADER_BYTES) throw invalid(path, `truncated ar header at byte ${at}`);
      if (head[58] !== 0x60 || head[59] !== 0x0a) throw invalid(path, `bad ar header at byte ${at}`);
      const name = head.toString("latin1", 0, 16).trimEnd().replace(/\/$/, "");
      const sizeField = head.toString("latin1", 48, 58).trim();
      if (!/^\d+$/.test(sizeField)) throw invalid(path, `ar member "${name}" has a bad size "${sizeField}"`);
      const size = Number(sizeField);
      const offset = at + HEADER_BYTES;
      if (offset + size > fileSize) {
        throw invalid(path, `ar member "${name}" is truncated (${fileSize - offset} of ${size} bytes)`);
      }
      members.push({ name, size, offset });
      at = offset + size + (size % 2);
    }
    return members;
  } finally {
    await file.close();
  }
}

/** Streams one member's body. */
export function openArMember(path: string, member: ArMember): Readable {
  if (member.size === 0) return Readable.from([]);
  return createReadStream(path, {
    start: member.offset,
    end: member.offset + member.size - 1,
    highWaterMark: 1 << 20,
  });
}

/** One member's whole body: only for members known to be small. */
export async function readArMember(path: string, member: ArMember): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of openArMember(path, member)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function invalid(path: string, what: string): StrataError {
  return new StrataError("DEB_INVALID", `${path}: ${what}`);
}
