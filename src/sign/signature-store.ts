import { descriptorOf, jsonBytes } from "../oci/image.js";
import { composeManifest } from "../oci/mutate.js";
import { parseManifest } from "../oci/parse.js";
import { attachToLayout, layoutPayload, layoutReferrers, referrerOf } from "../oci/referrers.js";
import { attachToRegistry, pushBlob, referrerPayload } from "../oci/registry/referrers.js";
import type { RemoteRepository } from "../oci/registry/repository.js";
import { type Descriptor, digestHex, type Manifest, MediaType } from "../oci/types.js";
import { StrataError } from "../util/errors.js";
import {
  MAX_PAYLOAD_BYTES,
  SIGNATURE_ANNOTATION,
  SIGNATURE_ARTIFACT_TYPE,
  SIMPLE_SIGNING_MEDIA_TYPE,
} from "./cosign.js";

/**
 * Where cosign signatures live. In a registry: cosign's tag scheme, a manifest under
 * `sha256-<hex>.sig` with one simple-signing layer per signature (what cosign, Kyverno and the
 * policy-controller read), and an OCI 1.1 referrer as well where the registry has the referrers
 * API. In an OCI layout: a referrer of the image (the latest signature replaces the earlier one).
 */

export interface StoredSignature {
  payload: Buffer;
  /** base64 DER ECDSA signature of the payload. */
  signature: string;
}

/** Marks a signature referrer with the signing key's fingerprint, so re-signing replaces only its own. */
export const KEY_ANNOTATION = "dev.strata.signature.key";
/** More signatures than this on one image are not read: a crafted .sig manifest cannot make us fetch thousands. */
const MAX_SIGNATURES = 64;

/** cosign's tag for the signatures of `digest`. */
export function signatureTag(digest: string): string {
  return `sha256-${digestHex(digest)}.sig`;
}

/** The config cosign writes for a signature manifest: an empty image whose diff_ids are the payloads. */
function signatureConfig(layers: Descriptor[]): Buffer {
  const epoch = "0001-01-01T00:00:00Z";
  return jsonBytes({
    architecture: "",
    created: epoch,
    history: layers.map(() => ({ created: epoch })),
    os: "",
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
    config: {},
  });
}

function signatureLayer(sig: StoredSignature): Descriptor {
  return descriptorOf(SIMPLE_SIGNING_MEDIA_TYPE, sig.payload, {
    annotations: { [SIGNATURE_ANNOTATION]: sig.signature },
  });
}

/** The signature layers of a cosign signature manifest, each checked for type, size and annotation. */
function signatureLayers(manifest: Manifest, where: string): Descriptor[] {
  if (manifest.layers.length > MAX_SIGNATURES)
    throw new StrataError(
      "SIGNATURE_INVALID",
      `${where}: ${manifest.layers.length} signatures, more than ${MAX_SIGNATURES}`,
    );
  return manifest.layers.filter(
    (l) =>
      l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE &&
      l.size <= MAX_PAYLOAD_BYTES &&
      typeof l.annotations?.[SIGNATURE_ANNOTATION] === "string",
  );
}

async function tagManifest(repo: RemoteRepository, tag: string): Promise<Manifest | undefined> {
  const got = await repo.getManifest(tag);
  return got && parseManifest(got.bytes, `${repo.where}:${tag}`, MediaType.ociManifest, "REGISTRY");
}

/**
 * Adds `sig` to the signatures of `subject` in `repo` (an identical one is not repeated), and
 * attaches it as a referrer where the registry has the API; says which.
 */
export async function storeInRegistry(
  repo: RemoteRepository,
  subject: Descriptor,
  sig: StoredSignature,
  fingerprint: string,
): Promise<{ tag: string; referrer: boolean }> {
  const tag = signatureTag(subject.digest);
  const layer = signatureLayer(sig);
  const earlier = (await tagManifest(repo, tag))?.layers ?? [];
  const layers = [
    ...signatureLayers({ layers: earlier } as Manifest, `${repo.where}:${tag}`).filter(
      (l) => l.digest !== layer.digest || l.annotations![SIGNATURE_ANNOTATION] !== sig.signature,
    ),
    layer,
  ];
  const config = signatureConfig(layers);
  const configDescriptor = descriptorOf(MediaType.ociConfig, config);
  await pushBlob(repo, layer, sig.payload);
  await pushBlob(repo, configDescriptor, config);
  await repo.putManifest(tag, MediaType.ociManifest, composeManifest(configDescriptor, layers).manifestBytes);
  const { api } = await attachToRegistry(repo, signatureReferrer(subject, sig, fingerprint));
  return { tag, referrer: api };
}

function signatureReferrer(subject: Descriptor, sig: StoredSignature, fingerprint: string) {
  const payload = {
    bytes: sig.payload,
    title: "signature.payload.json",
    mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
    annotations: { [SIGNATURE_ANNOTATION]: sig.signature },
  };
  return referrerOf(subject, SIGNATURE_ARTIFACT_TYPE, payload, { [KEY_ANNOTATION]: fingerprint });
}

/** Attaches `sig` to `subject` in the OCI layout at `dir`. */
export async function storeInLayout(
  dir: string,
  subject: Descriptor,
  sig: StoredSignature,
  fingerprint: string,
): Promise<void> {
  await attachToLayout(dir, signatureReferrer(subject, sig, fingerprint));
}

/** The signatures of `subject` in `repo`, read from cosign's tag (none when it is absent). */
export async function registrySignatures(
  repo: RemoteRepository,
  subject: string,
): Promise<StoredSignature[]> {
  const tag = signatureTag(subject);
  const manifest = await tagManifest(repo, tag);
  if (manifest === undefined) return [];
  const out: StoredSignature[] = [];
  for (const layer of signatureLayers(manifest, `${repo.where}:${tag}`)) {
    const payload = await referrerPayload(repo, layer, MAX_PAYLOAD_BYTES);
    out.push({ payload, signature: layer.annotations![SIGNATURE_ANNOTATION] });
  }
  return out;
}

/** The signatures attached to `subject` in the OCI layout at `dir`. */
export async function layoutSignatures(dir: string, subject: string): Promise<StoredSignature[]> {
  const out: StoredSignature[] = [];
  for (const { manifest } of await layoutReferrers(dir, subject, SIGNATURE_ARTIFACT_TYPE)) {
    for (const layer of signatureLayers(manifest, `${dir}: ${subject}`)) {
      const payload = await layoutPayload(dir, layer, MAX_PAYLOAD_BYTES);
      out.push({ payload, signature: layer.annotations![SIGNATURE_ANNOTATION] });
    }
  }
  return out;
}
