import { createHash } from "node:crypto";
import { StrataError } from "../util/errors.js";
import { certificateSubject } from "./certificate.js";
import { childrenOf, encodeTlv, expectTag, TAG, type Tlv } from "./der.js";

/**
 * OpenSSL's subject hash (`openssl x509 -subject_hash`, the `<hash>.0` names of `openssl rehash`):
 * X509_NAME_hash_ex, the first four bytes of the SHA-1 of the name's canonical encoding, read as a
 * little-endian number and printed as eight hex digits.
 *
 * The canonical encoding (crypto/x509/x_name.c, x509_name_canon) is each RDN's SET OF
 * AttributeTypeAndValue encoded in turn, without the outer SEQUENCE, where every value of a string
 * type is converted to UTF8String, its ASCII letters lowercased, its ASCII whitespace trimmed at
 * both ends and collapsed to one space inside; values of other types are kept as they are.
 */
export function subjectHash(der: Uint8Array, what: string): string {
  const digest = createHash("sha1")
    .update(canonicalName(der, certificateSubject(der, what), what))
    .digest();
  return digest.readUInt32LE(0).toString(16).padStart(8, "0");
}

/** The canonical encoding of a Name TLV (see above). */
export function canonicalName(der: Uint8Array, name: Tlv, what: string): Buffer {
  const sets = childrenOf(der, name, what).map((rdn) => {
    const entries = childrenOf(der, expectTag(rdn, TAG.set, what, "RDN"), what).map((atv) => {
      const [type, value, extra] = childrenOf(der, expectTag(atv, TAG.sequence, what, "attribute"), what);
      if (!type || !value || extra) throw new StrataError("DEB_INVALID", `${what}: malformed name attribute`);
      const typeBytes = der.subarray(type.start, type.end);
      return encodeTlv(TAG.sequence, Buffer.concat([typeBytes, canonicalValue(der, value, what)]));
    });
    return encodeTlv(TAG.set, Buffer.concat(entries.sort(derSetOrder)));
  });
  return Buffer.concat(sets);
}

/** The order DER gives a SET OF's members, as OpenSSL sorts them: bytewise, then shorter first. */
function derSetOrder(a: Buffer, b: Buffer): number {
  const common = Buffer.compare(
    a.subarray(0, Math.min(a.length, b.length)),
    b.subarray(0, Math.min(a.length, b.length)),
  );
  return common !== 0 ? common : a.length - b.length;
}

function canonicalValue(der: Uint8Array, value: Tlv, what: string): Buffer {
  const content = der.subarray(value.contentStart, value.end);
  const utf8 = toUtf8(value.tag, content, what);
  if (utf8 === undefined) return Buffer.from(der.subarray(value.start, value.end));
  return encodeTlv(TAG.utf8String, canonicalText(utf8));
}

/** A string value as UTF-8 (as ASN1_STRING_to_UTF8 does), or undefined for types left as they are. */
function toUtf8(tag: number, content: Uint8Array, what: string): Buffer | undefined {
  switch (tag) {
    case TAG.utf8String:
      if (!Buffer.from(content).equals(Buffer.from(Buffer.from(content).toString("utf8"), "utf8"))) {
        throw new StrataError("DEB_INVALID", `${what}: a UTF8String in the name is not valid UTF-8`);
      }
      return Buffer.from(content);
    case TAG.printableString:
    case TAG.t61String:
    case TAG.ia5String:
    case TAG.visibleString:
      return Buffer.from(Buffer.from(content).toString("latin1"), "utf8");
    case TAG.bmpString:
      return codePointsToUtf8(content, 2, what);
    case TAG.universalString:
      return codePointsToUtf8(content, 4, what);
    default:
      return undefined;
  }
}

/** Big-endian fixed-width code points (UCS-2 or UCS-4) to UTF-8. */
function codePointsToUtf8(content: Uint8Array, width: 2 | 4, what: string): Buffer {
  if (content.length % width !== 0)
    throw new StrataError("DEB_INVALID", `${what}: odd-sized wide string in name`);
  const view = Buffer.from(content);
  const points: number[] = [];
  for (let i = 0; i < view.length; i += width) {
    const point = width === 2 ? view.readUInt16BE(i) : view.readUInt32BE(i);
    if (point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) {
      throw new StrataError("DEB_INVALID", `${what}: invalid character U+${point.toString(16)} in name`);
    }
    points.push(point);
  }
  return Buffer.from(String.fromCodePoint(...points), "utf8");
}

const isSpace = (byte: number) => byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);

/** ASCII-lowercased, ASCII whitespace trimmed and collapsed to one space; other bytes kept. */
function canonicalText(utf8: Buffer): Buffer {
  let from = 0;
  let to = utf8.length;
  while (from < to && isSpace(utf8[from])) from++;
  while (to > from && isSpace(utf8[to - 1])) to--;
  const out: number[] = [];
  for (let i = from; i < to; i++) {
    const byte = utf8[i];
    if (isSpace(byte)) {
      out.push(0x20);
      while (isSpace(utf8[i + 1])) i++;
    } else out.push(byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte);
  }
  return Buffer.from(out);
}
