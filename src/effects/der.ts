import { StrataError } from "../util/errors.js";

/**
 * The little of DER (X.690) that reading certificates needs: one TLV at a time, every length
 * checked against its container, so a hostile certificate is refused rather than read past its end.
 * Only single-byte tags (every tag of a certificate's names and TBS fields is one).
 */
export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the content. */
  end: number;
}

export const TAG = {
  integer: 0x02,
  sequence: 0x30,
  set: 0x31,
  utf8String: 0x0c,
  printableString: 0x13,
  t61String: 0x14,
  ia5String: 0x16,
  universalString: 0x1c,
  visibleString: 0x1a,
  bmpString: 0x1e,
} as const;

/** The TLV at `offset`, which must end at or before `limit`. */
export function readTlv(der: Uint8Array, offset: number, limit: number, what: string): Tlv {
  if (offset + 2 > limit) throw malformed(what, "truncated");
  const tag = der[offset];
  if ((tag & 0x1f) === 0x1f) throw malformed(what, "multi-byte tags are not supported");
  let length = der[offset + 1];
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw malformed(what, "indefinite or oversized length");
    if (contentStart + count > limit) throw malformed(what, "truncated length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[contentStart + i];
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw malformed(what, "a value runs past its container");
  return { tag, start: offset, contentStart, end };
}

/** The TLVs inside a constructed value, which must fill it exactly. */
export function childrenOf(der: Uint8Array, parent: Tlv, what: string): Tlv[] {
  if ((parent.tag & 0x20) === 0) throw malformed(what, `tag 0x${parent.tag.toString(16)} is not constructed`);
  const out: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const child = readTlv(der, at, parent.end, what);
    out.push(child);
    at = child.end;
  }
  return out;
}

/** Expects a TLV of a given tag. */
export function expectTag(tlv: Tlv, tag: number, what: string, field: string): Tlv {
  if (tlv.tag !== tag)
    throw malformed(what, `${field}: tag 0x${tlv.tag.toString(16)}, expected 0x${tag.toString(16)}`);
  return tlv;
}

/** A DER TLV: tag, minimal definite length, content. */
export function encodeTlv(tag: number, content: Uint8Array): Buffer {
  const n = content.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
    header = [tag, 0x80 | bytes.length, ...bytes];
  }
  return Buffer.concat([Buffer.from(header), content]);
}

function malformed(what: string, why: string): StrataError {
  return new StrataError("DEB_INVALID", `${what}: not a valid DER certificate (${why})`, {
    hint: "the package ships a damaged certificate; report it to its maintainer or leave the package out",
  });
}
