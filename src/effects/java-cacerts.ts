import { createHash } from "node:crypto";
import { StrataError } from "../util/errors.js";
import { compareText } from "../util/order.js";

/**
 * The Java trust store as bookworm's ca-certificates-java writes it (/etc/ssl/certs/java/cacerts):
 * a JKS keystore (the SUN provider's format, sun.security.provider.JavaKeyStore) of trusted
 * certificate entries, store password `changeit`, one entry per /etc/ssl/certs/NAME.pem with the
 * alias `debian:name.pem` (JKS lowercases aliases).
 *
 * Deterministic, unlike the original: entries sorted by alias, every entry's creation date the
 * image epoch (Java writes its Hashtable order and the clock).
 *
 * JKS: magic FEEDFEED, version 2, entry count, then per entry: tag 2 (trusted certificate), alias
 * (writeUTF), date (ms, 64-bit), certificate type "X.509" (writeUTF), DER length and bytes; then
 * the SHA-1 of (password as UTF-16BE, "Mighty Aphrodite", everything before).
 */
export const JAVA_CACERTS = "etc/ssl/certs/java/cacerts";
export const JAVA_STORE_PASSWORD = "changeit";

export interface TrustedCertificate {
  alias: string;
  der: Uint8Array;
}

const MAGIC = 0xfeedfeed;
const VERSION = 2;
const TRUSTED_CERT_TAG = 2;
const WHITENER = Buffer.from("Mighty Aphrodite", "utf8");

export function javaKeystore(
  certs: TrustedCertificate[],
  epochSeconds: number,
  password = JAVA_STORE_PASSWORD,
) {
  // A later alias replaces an earlier one, as KeyStore.setCertificateEntry does.
  const byAlias = new Map(certs.map((c) => [c.alias.toLowerCase(), c.der]));
  const aliases = [...byAlias.keys()].sort(compareText);
  const parts: Buffer[] = [int32(MAGIC), int32(VERSION), int32(aliases.length)];
  const date = Buffer.alloc(8);
  date.writeBigInt64BE(BigInt(epochSeconds) * 1000n);
  for (const alias of aliases) {
    const der = byAlias.get(alias)!;
    parts.push(
      int32(TRUSTED_CERT_TAG),
      javaUtf(alias),
      date,
      javaUtf("X.509"),
      int32(der.length),
      Buffer.from(der),
    );
  }
  const body = Buffer.concat(parts);
  const digest = createHash("sha1").update(passwordKey(password)).update(WHITENER).update(body).digest();
  return Buffer.concat([body, digest]);
}

/** The alias ca-certificates-java gives /etc/ssl/certs/NAME.pem. */
export function javaAlias(pemName: string): string {
  return `debian:${pemName}`.toLowerCase();
}

/** The password as JKS keys its digest with: each UTF-16 unit big-endian. */
export function passwordKey(password: string): Buffer {
  return Buffer.from(password, "utf16le").swap16();
}

function int32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value);
  return b;
}

/** DataOutputStream.writeUTF: a 16-bit length, then modified UTF-8 (NUL as two bytes, surrogates apart). */
export function javaUtf(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x01 && c <= 0x7f) bytes.push(c);
    else if (c <= 0x7ff) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  if (bytes.length > 0xffff)
    throw new StrataError("DEB_INVALID", `a Java keystore alias is too long: ${text.slice(0, 40)}...`);
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, Buffer.from(bytes)]);
}
