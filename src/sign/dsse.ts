import type { KeyObject } from "node:crypto";
import { StrataError } from "../util/errors.js";
import { payloadVerifies, signPayload } from "./cosign.js";
import { keyFingerprint } from "./keys.js";

/**
 * DSSE envelopes (secure-systems-lab/dsse, protocol.md): the signature covers the pre-auth encoding
 * PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, never the JSON around it.
 * in-toto attestations are DSSE envelopes of payloadType application/vnd.in-toto+json.
 */

export const IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json";
export const DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json";

export interface Envelope {
  payloadType: string;
  /** base64 of the payload. */
  payload: string;
  signatures: { keyid: string; sig: string }[];
}

export function preAuthEncoding(payloadType: string, body: Buffer): Buffer {
  const type = Buffer.from(payloadType, "utf8");
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${body.length} `), body]);
}

/** `body` signed with `key` in an envelope; the keyid is the key's fingerprint. */
export function signEnvelope(key: KeyObject, payloadType: string, body: Buffer): Envelope {
  const sig = signPayload(key, preAuthEncoding(payloadType, body));
  return { payloadType, payload: body.toString("base64"), signatures: [{ keyid: keyFingerprint(key), sig }] };
}

function envelopeError(where: string, why: string): StrataError {
  return new StrataError("SIGNATURE_INVALID", `${where}: the attestation ${why}`, {
    hint: "the attestation was damaged or crafted; attest the image again (strata sign)",
  });
}

/** An envelope read from outside, its shape checked. */
export function parseEnvelope(bytes: Buffer, where: string): Envelope {
  let doc: Partial<Envelope> | undefined;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw envelopeError(where, "is not JSON");
  }
  const ok =
    typeof doc?.payloadType === "string" &&
    typeof doc.payload === "string" &&
    Array.isArray(doc.signatures) &&
    doc.signatures.length <= 16 &&
    doc.signatures.every((s) => typeof s?.sig === "string");
  if (!ok) throw envelopeError(where, "is not a DSSE envelope");
  return doc as Envelope;
}

/** The envelope's payload when `key` signed it (over the PAE), else undefined. */
export function verifiedPayload(envelope: Envelope, key: KeyObject): Buffer | undefined {
  const body = Buffer.from(envelope.payload, "base64");
  const pae = preAuthEncoding(envelope.payloadType, body);
  return envelope.signatures.some((s) => payloadVerifies(key, pae, s.sig)) ? body : undefined;
}
