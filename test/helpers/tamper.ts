/**
 * Alterations a man in the middle or a tampered store could make to a blob, for the tests of what
 * strata verifies: each keeps JSON valid where the original was, so only the digest tells.
 */

/** The same bytes with their last decimal digit changed: same size, still valid JSON, another sha256. */
export function otherLastDigit(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  for (let i = copy.length - 1; i >= 0; i--) {
    if (copy[i] >= 0x30 && copy[i] <= 0x39) {
      copy[i] = 0x30 + ((copy[i] - 0x30 + 1) % 10);
      return copy;
    }
  }
  throw new Error("no digit to change");
}

/** The same bytes with the one in the middle flipped: same size, another sha256. */
export function flippedMiddle(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  copy[copy.length >> 1] ^= 0x01;
  return copy;
}

/** The bytes and one more: the descriptor's size no longer holds. */
export function oneByteLonger(bytes: Buffer): Buffer {
  return Buffer.concat([bytes, Buffer.from("\n")]);
}
