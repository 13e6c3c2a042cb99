import { createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { StrataError } from "../util/errors.js";
import { SHA256_DIGEST } from "../util/verify.js";

/**
 * cosign's key-based image signature (sigstore/cosign, specs/SIGNATURE_SPEC.md): a "simple signing"
 * payload naming the image's manifest digest and repository, signed with ECDSA P-256 over SHA-256
 * (ASN.1 DER signature, base64 in the layer's annotation). cosign, Kyverno and sigstore's
 * policy-controller verify exactly this; so does `openssl dgst -sha256 -verify` over the payload.
 */

export const SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json";
export const SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature";
/** cosign's artifactType for a signature stored as an OCI 1.1 referrer. */
export const SIGNATURE_ARTIFACT_TYPE = "application/vnd.dev.cosign.artifact.sig.v1+json";
const PAYLOAD_TYPE = "cosign container image signature";
/** cosign's payloads are a few hundred bytes; `optional` may carry annotations, so leave room. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/** The payload cosign signs for `digest` in `repository`, in cosign's field order. */
export function simpleSigningPayload(repository: string, digest: string): Buffer {
  const payload = {
    critical: {
      identity: { "docker-reference": repository },
      image: { "docker-manifest-digest": digest },
      type: PAYLOAD_TYPE,
    },
    optional: null,
  };
  return Buffer.from(JSON.stringify(payload));
}

/** The manifest digest a payload names, after checking it is a cosign simple-signing payload. */
export function payloadDigest(bytes: Buffer, where: string): string {
  let doc: { critical?: { image?: Record<string, unknown>; type?: unknown } } | undefined;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    // reported below
  }
  const digest = doc?.critical?.image?.["docker-manifest-digest"];
  if (doc?.critical?.type !== PAYLOAD_TYPE || typeof digest !== "string" || !SHA256_DIGEST.test(digest))
    throw new StrataError(
      "SIGNATURE_INVALID",
      `${where}: the signature's payload is not a cosign image payload`,
      {
        hint: "the signature was damaged or crafted; sign the image again",
      },
    );
  return digest;
}

/** The base64 DER ECDSA signature of `payload`. */
export function signPayload(key: KeyObject, payload: Buffer): string {
  return sign("sha256", payload, key).toString("base64");
}

/** Whether `signature` (base64 DER) is `key`'s signature of `payload`; malformed input is false. */
export function payloadVerifies(key: KeyObject, payload: Buffer, signature: string): boolean {
  if (!/^[A-Za-z0-9+/]{1,1000}={0,2}$/.test(signature)) return false;
  const pub = key.type === "private" ? createPublicKey(key) : key;
  try {
    return verify("sha256", payload, pub, Buffer.from(signature, "base64"));
  } catch {
    return false;
  }
}
