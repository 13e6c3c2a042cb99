/**
 * The uncompressed size an .xz file declares in its indexes (the .xz file format 1.2.1, §2.1.2 and
 * §4), read backwards from its end: footer, index, then the stream before it, and so on through
 * every concatenated stream and its padding. xz checks each index against the blocks it decodes and
 * fails on any difference, so a size read here is what `xz -dc` writes, or xz fails.
 *
 * Returns undefined for anything that is not a well-formed sequence of streams: the caller then
 * decodes the file on its own, and xz reports the defect as it always has.
 */
const HEADER_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const FOOTER_MAGIC = Buffer.from("YZ", "latin1");
const HEADER_BYTES = 12;
const FOOTER_BYTES = 12;

export function xzDeclaredSize(file: Uint8Array): number | undefined {
  const bytes = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  let end = bytes.length;
  let total = 0;
  let streams = 0;
  while (end > 0) {
    // Stream padding: zero bytes in groups of four after a stream.
    while (end >= 4 && bytes.readUInt32LE(end - 4) === 0) end -= 4;
    const start = streamStart(bytes, end);
    if (start === undefined) return undefined;
    total += start.size;
    streams++;
    if (!Number.isSafeInteger(total)) return undefined;
    end = start.at;
  }
  return streams > 0 ? total : undefined;
}

/** The stream that ends at `end`: where it starts and the uncompressed size its index records. */
function streamStart(bytes: Buffer, end: number): { at: number; size: number } | undefined {
  const footer = end - FOOTER_BYTES;
  if (footer < HEADER_BYTES || !bytes.subarray(end - 2, end).equals(FOOTER_MAGIC)) return undefined;
  const indexBytes = (bytes.readUInt32LE(footer + 4) + 1) * 4;
  const index = footer - indexBytes;
  if (index < HEADER_BYTES) return undefined;
  const records = indexRecords(bytes.subarray(index, footer));
  if (records === undefined) return undefined;
  const at = index - records.blockBytes - HEADER_BYTES;
  if (at < 0 || !bytes.subarray(at, at + HEADER_MAGIC.length).equals(HEADER_MAGIC)) return undefined;
  return { at, size: records.uncompressed };
}

/** An index's records summed: the bytes its blocks take (each padded to 4) and their output. */
function indexRecords(index: Buffer): { blockBytes: number; uncompressed: number } | undefined {
  if (index[0] !== 0x00) return undefined; // the index indicator
  const cursor = { at: 1 };
  const count = readVarint(index, cursor);
  if (count === undefined) return undefined;
  let blockBytes = 0;
  let uncompressed = 0;
  for (let i = 0; i < count; i++) {
    const unpadded = readVarint(index, cursor);
    const size = readVarint(index, cursor);
    if (unpadded === undefined || size === undefined || unpadded === 0) return undefined;
    blockBytes += Math.ceil(unpadded / 4) * 4;
    uncompressed += size;
  }
  // Then zero padding to a multiple of four and a CRC32: exactly what is left.
  const crcAt = Math.ceil(cursor.at / 4) * 4;
  if (crcAt + 4 !== index.length) return undefined;
  if (!Number.isSafeInteger(blockBytes) || !Number.isSafeInteger(uncompressed)) return undefined;
  return { blockBytes, uncompressed };
}

/** A multibyte integer (7 bits a byte, least significant first, at most 9 bytes), or undefined. */
function readVarint(bytes: Buffer, cursor: { at: number }): number | undefined {
  let value = 0;
  for (let i = 0; i < 9 && cursor.at < bytes.length; i++) {
    const byte = bytes[cursor.at++];
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return i > 0 && byte === 0 ? undefined : value;
  }
  return undefined;
}
