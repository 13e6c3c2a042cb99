import { StrataError } from "../util/errors.js";
import { childrenOf, expectTag, readTlv, TAG, type Tlv } from "./der.js";

/** The DER bodies of a PEM text's `CERTIFICATE` blocks, in order (other blocks are ignored). */
export function pemCertificates(text: string, what: string): Buffer[] {
  const out: Buffer[] = [];
  const block = /-----BEGIN CERTIFICATE-----([^-]*)-----END CERTIFICATE-----/g;
  for (const [, body] of text.matchAll(block)) {
    const base64 = body.replace(/\s+/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) {
      throw new StrataError("DEB_INVALID", `${what}: a PEM certificate block is not valid base64`);
    }
    out.push(Buffer.from(base64, "base64"));
  }
  return out;
}

/**
 * The subject Name of an X.509 certificate (RFC 5280 §4.1): the sixth field of tbsCertificate
 * when the explicit [0] version is there, else the fifth. The whole certificate must be one TLV.
 */
export function certificateSubject(der: Uint8Array, what: string): Tlv {
  const cert = expectTag(readTlv(der, 0, der.length, what), TAG.sequence, what, "certificate");
  if (cert.end !== der.length) throw new StrataError("DEB_INVALID", `${what}: bytes after the certificate`);
  const [tbs] = childrenOf(der, cert, what);
  if (!tbs) throw new StrataError("DEB_INVALID", `${what}: empty certificate`);
  const fields = childrenOf(der, expectTag(tbs, TAG.sequence, what, "tbsCertificate"), what);
  const first = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] EXPLICIT version
  const subject = fields[first + 4];
  if (!subject) throw new StrataError("DEB_INVALID", `${what}: tbsCertificate has no subject`);
  return expectTag(subject, TAG.sequence, what, "subject");
}
