import type { KeyObject } from "node:crypto";
import { readHome } from "../oci/homes/homes.js";
import { type Home, homeText } from "../oci/homes/name.js";
import { artifactDescriptor } from "../oci/image.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { RemoteRepository } from "../oci/registry/repository.js";
import type { Descriptor } from "../oci/types.js";
import { StrataError } from "../util/errors.js";
import { payloadDigest, payloadVerifies, signPayload, simpleSigningPayload } from "./cosign.js";
import { keyFingerprint } from "./keys.js";
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
}

function unsupported(home: Home): StrataError {
  return new StrataError(
    "USAGE",
    `${homeText(home)}: signatures are kept only in an OCI layout or a registry`,
    {
      hint: "sign oci:DIR or docker://REGISTRY/REPO; archives have no place for signatures",
    },
  );
}

/** The repository name a payload's docker-reference carries: the registry's, or the layout's path. */
function identityOf(home: Home): string {
  return home.transport === "docker" ? `${home.ref.registry}/${home.ref.repository}` : homeText(home);
}

/** The descriptor of the artifact `home` names. */
export async function subjectOf(home: Home, registry: RegistryClientOptions): Promise<Descriptor> {
  return artifactDescriptor(await readHome(home, { registry }));
}

/** Signs the artifact at `home` with `key` and stores the signature beside it. */
export async function signImage(
  home: Home,
  key: KeyObject,
  opts: { registry?: RegistryClientOptions; subject?: Descriptor } = {},
): Promise<SignReport> {
  if (home.transport !== "oci" && home.transport !== "docker") throw unsupported(home);
  const subject = opts.subject ?? (await subjectOf(home, opts.registry ?? {}));
  const payload = simpleSigningPayload(identityOf(home), subject.digest);
  const sig: StoredSignature = { payload, signature: signPayload(key, payload) };
  const fingerprint = keyFingerprint(key);
  const report = {
    image: homeText(home),
    digest: subject.digest,
    fingerprint,
    payload,
    signature: sig.signature,
  };
  if (home.transport === "oci") {
    await storeInLayout(home.path, subject, sig, fingerprint);
    return { ...report, stored: ["layout"] };
  }
  const { repo, close } = await RemoteRepository.open(home.ref, opts.registry ?? {});
  try {
    const { tag, referrer } = await storeInRegistry(repo, subject, sig, fingerprint);
    return { ...report, stored: referrer ? [tag, "referrers-api"] : [tag] };
  } finally {
    await close();
  }
}

/** The signatures stored for `digest` where `home` lives. */
export async function signaturesOf(
  home: Home,
  digest: string,
  registry: RegistryClientOptions,
): Promise<StoredSignature[]> {
  if (home.transport === "oci") return layoutSignatures(home.path, digest);
  if (home.transport !== "docker") throw unsupported(home);
  const { repo, close } = await RemoteRepository.open(home.ref, registry);
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
}

/** Checks the signatures stored beside the artifact at `home` against `keys` (any one suffices). */
export async function verifyImage(
  home: Home,
  keys: KeyObject[],
  opts: { registry?: RegistryClientOptions } = {},
): Promise<VerifyReport> {
  const registry = opts.registry ?? {};
  const { digest } = await subjectOf(home, registry);
  const signatures = await signaturesOf(home, digest, registry);
  const verdicts = keys.map((key) => verdictFor(key, digest, signatures, homeText(home)));
  return { image: homeText(home), digest, keys: verdicts, verified: anyKeyVerdict(verdicts).verified };
}
