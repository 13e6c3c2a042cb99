/**
 * The bytes of `source`, refused with `tooLong()` as soon as they pass `maxBytes`: what comes from
 * outside (stdin, a blob) is never held past its bound. Leaving the loop early destroys a stream.
 */
export async function collectAtMost(
  source: AsyncIterable<Buffer | Uint8Array>,
  maxBytes: number,
  tooLong: () => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += chunk.length;
    if (size > maxBytes) throw tooLong();
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
  }
  return Buffer.concat(chunks);
}
