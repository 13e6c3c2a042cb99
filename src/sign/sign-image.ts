import type { KeyObject } from "node:crypto";
import type { PrivateKey } from "openpgp";
import { type AttachableLocation, assertAttachable } from "../oci/attached.js";
import { type Artifact, artifactDescriptor } from "../oci/image.js";
import { readLocation } from "../oci/locations/locations.js";
import { type ImageLocation, locationText } from "../oci/locations/name.js";
import { formatReference } from "../oci/reference.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { RemoteRepository } from "../oci/registry/repository.js";
import type { Descriptor } from "../oci/types.js";
import { isStrataError, StrataError } from "../util/errors.js";
import { type AttestationVia, attachAttestation, attachedAttestations } from "./attestations.js";
import { payloadDigest, payloadVerifies, signPayload, simpleSigningPayload } from "./cosign.js";
import { IN_TOTO_PAYLOAD_TYPE, verifiedPayload } from "./dsse.js";
import { atomicPayload, signAtomic, storeInLookaside } from "./gpg-signature.js";
import { keyFingerprint } from "./keys.js";
import {
  parseStatement,
  provenanceMismatch,
  provenanceStatement,
  SLSA_PROVENANCE_V1,
  type Statement,
} from "./provenance.js";
import {
  layoutSignatures,
  registrySignatures,
  type StoredSignature,
  storeInLayout,
  storeInRegistry,
} from "./signature-store.js";

/**
 * Signing an image where it lives, and verifying its signatures. What is signed is the digest of
 * the artifact the name resolves to (a platform index or an image manifest), as cosign does: the
 * digest a pod pulls and the webhook decides on.
 */

export interface SignReport {
  image: string;
  digest: string;
  fingerprint: string;
  /** Where the signature went: cosign's tag, "referrers-api", or "layout". */
  stored: string[];
  payload: Buffer;
  signature: string;
  /** How the signed provenance was attached, or why there is none. */
  provenance: { via: AttestationVia } | { skipped: string };
}

export interface SignOptions {
  registry?: RegistryClientOptions;
  /** The artifact at `location`, when the caller has it (a build): it is not read again. */
  artifact?: Artifact;
  /** Attach a signed SLSA provenance too (default true; skipped for an image strata did not build). */
  provenance?: boolean;
  /** The spec file's sha256, known at build time. */
  specSha256?: string;
}

/** Refuses an image location that has no place for signatures (an archive), before any work is done. */
export function assertSignable(location: ImageLocation): asserts location is AttachableLocation {
  assertAttachable(
    location,
    "signatures are kept",
    "sign oci:DIR or docker://REGISTRY/REPO; archives have no place for signatures",
  );
}

/** The repository name a payload's docker-reference carries: the registry's, or the layout's path. */
function identityOf(location: ImageLocation): string {
  return location.transport === "docker"
    ? `${location.ref.registry}/${location.ref.repository}`
    : locationText(location);
}

/** Stores `sig` of `subject` beside it; says where. */
async function storeSignature(
  location: ImageLocation & { transport: "oci" | "docker" },
  subject: Descriptor,
  sig: StoredSignature,
  fingerprint: string,
  registry: RegistryClientOptions,
): Promise<string[]> {
  if (location.transport === "oci") {
    await storeInLayout(location.path, subject, sig, fingerprint);
    return ["layout"];
  }
  const { repo, close } = await RemoteRepository.open(location.ref, registry);
  try {
    const { tag, referrer } = await storeInRegistry(repo, subject, sig, fingerprint);
    return referrer ? [tag, "referrers-api"] : [tag];
  } finally {
    await close();
  }
}

/** Attaches the artifact's signed provenance, unless strata cannot rebuild from its record it (then says why). */
async function attestProvenance(
  location: ImageLocation & { transport: "oci" | "docker" },
  artifact: Artifact,
  key: KeyObject,
  opts: SignOptions,
): Promise<SignReport["provenance"]> {
  let statement: Statement;
  try {
    statement = await provenanceStatement(artifact, identityOf(location), {
      specSha256: opts.specSha256,
      where: locationText(location),
    });
  } catch (err) {
    if (isStrataError(err, "IMAGE_NOT_REBUILDABLE")) return { skipped: err.message };
    throw err;
  }
  const subject = artifactDescriptor(artifact);
  return { via: await attachAttestation(location, subject, statement, key, opts.registry ?? {}) };
}

/** Signs the artifact at `location` with `key`, stores the signature beside it and attests its provenance. */
export async function signImage(
  location: ImageLocation,
  key: KeyObject,
  opts: SignOptions = {},
): Promise<SignReport> {
  assertSignable(location);
  const registry = opts.registry ?? {};
  const artifact = opts.artifact ?? (await readLocation(location, { registry }));
  const subject = artifactDescriptor(artifact);
  const payload = simpleSigningPayload(identityOf(location), subject.digest);
  const sig: StoredSignature = { payload, signature: signPayload(key, payload) };
  const fingerprint = keyFingerprint(key);
  const stored = await storeSignature(location, subject, sig, fingerprint, registry);
  const provenance =
    opts.provenance === false
      ? { skipped: "not asked for" }
      : await attestProvenance(location, artifact, key, opts);
  return {
    image: locationText(location),
    digest: subject.digest,
    fingerprint,
    stored,
    payload,
    signature: sig.signature,
    provenance,
  };
}

/** The signatures stored for `digest` where `location` lives. */
export async function signaturesOf(
  location: ImageLocation,
  digest: string,
  registry: RegistryClientOptions,
): Promise<StoredSignature[]> {
  assertSignable(location);
  if (location.transport === "oci") return layoutSignatures(location.path, digest);
  const { repo, close } = await RemoteRepository.open(location.ref, registry);
  try {
    return await registrySignatures(repo, digest);
  } finally {
    await close();
  }
}

export interface KeyVerdict {
  fingerprint: string;
  verified: boolean;
  /** Why not, when not verified. */
  reason?: string;
}

/**
 * Whether one of `signatures` is `key`'s signature of a payload naming `digest` (cosign's
 * key-based check): a valid signature of a payload for another digest (one copied from another
 * image) does not count.
 */
export function verdictFor(
  key: KeyObject,
  digest: string,
  signatures: StoredSignature[],
  where: string,
): KeyVerdict {
  const fingerprint = keyFingerprint(key);
  if (signatures.length === 0) return { fingerprint, verified: false, reason: "the image has no signatures" };
  let signedOther = false;
  for (const sig of signatures) {
    if (!payloadVerifies(key, sig.payload, sig.signature)) continue;
    if (payloadDigest(sig.payload, where) === digest) return { fingerprint, verified: true };
    signedOther = true;
  }
  const reason = signedOther
    ? "the key's signature names another digest (copied from another image)"
    : "no signature is this key's";
  return { fingerprint, verified: false, reason };
}

/** What a set of keys says together: the first that verified, else every key's reason. */
export function anyKeyVerdict(verdicts: KeyVerdict[]): { verified: boolean; reason?: string } {
  if (verdicts.some((v) => v.verified)) return { verified: true };
  return { verified: false, reason: [...new Set(verdicts.map((v) => v.reason))].join("; ") };
}

export interface VerifyReport {
  image: string;
  digest: string;
  /** One verdict per key given, in order. */
  keys: KeyVerdict[];
  /** Whether any of the keys signed the digest. */
  verified: boolean;
  /** With `provenance`: whether a provenance signed by one of the keys is the image's. */
  provenance?: { verified: boolean; reason?: string };
}

/**
 * Whether a SLSA provenance attached to the artifact is signed by one of `keys` (DSSE), names its
 * digest as subject, and lists exactly the .debs and InReleases the image's record holds.
 */
export async function provenanceVerdict(
  location: ImageLocation,
  artifact: Artifact,
  keys: KeyObject[],
  registry: RegistryClientOptions,
): Promise<{ verified: boolean; reason?: string }> {
  const where = locationText(location);
  const { digest } = artifactDescriptor(artifact);
  const envelopes = await attachedAttestations(location, digest, SLSA_PROVENANCE_V1, registry);
  if (envelopes.length === 0) return { verified: false, reason: "no provenance is attached" };
  const reasons = new Set<string>();
  for (const envelope of envelopes) {
    for (const key of keys) {
      const body = envelope.payloadType === IN_TOTO_PAYLOAD_TYPE ? verifiedPayload(envelope, key) : undefined;
      if (body === undefined) continue;
      let mismatch: string | undefined;
      try {
        mismatch = await provenanceMismatch(parseStatement(body, where), artifact, where);
      } catch (err) {
        if (!(err instanceof StrataError)) throw err;
        mismatch = err.message;
      }
      if (mismatch === undefined) return { verified: true };
      reasons.add(`the signed provenance does not match: ${mismatch}`);
    }
  }
  if (reasons.size === 0) reasons.add("no attached provenance is signed by these keys");
  return { verified: false, reason: [...reasons].join("; ") };
}

/** Checks the signatures stored beside the artifact at `location` against `keys` (any one suffices). */
export async function verifyImage(
  location: ImageLocation,
  keys: KeyObject[],
  opts: { registry?: RegistryClientOptions; provenance?: boolean } = {},
): Promise<VerifyReport> {
  const registry = opts.registry ?? {};
  const artifact = await readLocation(location, { registry });
  const { digest } = artifactDescriptor(artifact);
  const signatures = await signaturesOf(location, digest, registry);
  const verdicts = keys.map((key) => verdictFor(key, digest, signatures, locationText(location)));
  const report: VerifyReport = {
    image: locationText(location),
    digest,
    keys: verdicts,
    verified: anyKeyVerdict(verdicts).verified,
  };
  if (opts.provenance) report.provenance = await provenanceVerdict(location, artifact, keys, registry);
  return report;
}

export interface GpgSignReport {
  image: string;
  digest: string;
  /** The docker-reference the signature names: what podman must pull it as. */
  identity: string;
  file: string;
}

/**
 * Signs a registry image with an OpenPGP key in containers/image's simple-signing format, for
 * podman's and skopeo's `signedBy` policies, into the lookaside directory `lookaside`.
 */
export async function signImageGpg(
  location: ImageLocation,
  key: PrivateKey,
  lookaside: string,
  opts: { registry?: RegistryClientOptions; now?: Date } = {},
): Promise<GpgSignReport> {
  if (location.transport !== "docker")
    throw new StrataError("USAGE", `${locationText(location)}: GPG signatures are for images in a registry`, {
      hint: "name the image as docker://REGISTRY/REPO:TAG; a lookaside directory is keyed by repository",
    });
  const { digest } = artifactDescriptor(await readLocation(location, { registry: opts.registry ?? {} }));
  const identity = formatReference({ ...location.ref, digest: undefined });
  const payload = atomicPayload(identity, digest, opts.now ?? new Date());
  const file = await storeInLookaside(lookaside, location.ref, digest, await signAtomic(payload, key));
  return { image: locationText(location), digest, identity, file };
}
