import type { KeyObject } from "node:crypto";
import { type Artifact, artifactImages, imageDescriptor, jsonBytes } from "../oci/image.js";
import type { ImageLocation } from "../oci/locations/name.js";
import {
  attachToLayout,
  checkReferrer,
  layoutPayload,
  layoutReferrers,
  referrerOf,
} from "../oci/referrers.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import {
  attachToRegistry,
  referrerManifest,
  referrerPayload,
  registryReferrers,
} from "../oci/registry/referrers.js";
import { RemoteRepository } from "../oci/registry/repository.js";
import { type Descriptor, digestHex } from "../oci/types.js";
import type { SbomFormat } from "../sbom/sbom.js";
import { DSSE_MEDIA_TYPE, type Envelope, IN_TOTO_PAYLOAD_TYPE, parseEnvelope, signEnvelope } from "./dsse.js";
import { keyFingerprint } from "./keys.js";
import { STATEMENT_TYPE, type Statement } from "./provenance.js";
import { KEY_ANNOTATION } from "./signature-store.js";

/**
 * Signed in-toto attestations attached to an image as OCI 1.1 referrers of artifactType
 * application/vnd.in-toto+json, the layer a DSSE envelope: in an OCI layout, or a registry
 * (referrers API, else the `sha256-<hex>` tag fallback index, beside the SBOMs). A new attestation
 * of the same predicate type by the same key replaces the earlier one.
 */

export const PREDICATE_ANNOTATION = "in-toto.io/predicate-type";
/** A provenance of thousands of .debs is a few MB; an SBOM statement is at most an SBOM. */
const MAX_ATTESTATION_BYTES = 96 << 20;
/** At most this many attestations of one type are read: a crafted index cannot make us fetch thousands. */
const MAX_ATTESTATIONS = 16;

export type AttestationVia = "layout" | "referrers-api" | "tag-fallback";

/** Signs `statement` with `key` and attaches it to `subject` where `location` keeps it; says how. */
export async function attachAttestation(
  location: ImageLocation & { transport: "oci" | "docker" },
  subject: Descriptor,
  statement: Statement,
  key: KeyObject,
  registry: RegistryClientOptions,
): Promise<AttestationVia> {
  const envelope = signEnvelope(key, IN_TOTO_PAYLOAD_TYPE, jsonBytes(statement));
  const fingerprint = keyFingerprint(key);
  const payload = { bytes: jsonBytes(envelope), title: "attestation.dsse.json", mediaType: DSSE_MEDIA_TYPE };
  const annotations = { [PREDICATE_ANNOTATION]: statement.predicateType, [KEY_ANNOTATION]: fingerprint };
  const referrer = referrerOf(subject, IN_TOTO_PAYLOAD_TYPE, payload, annotations);
  const sameKind = (d: Descriptor) =>
    d.artifactType === IN_TOTO_PAYLOAD_TYPE &&
    d.annotations?.[PREDICATE_ANNOTATION] === statement.predicateType &&
    d.annotations?.[KEY_ANNOTATION] === fingerprint;
  if (location.transport === "oci") {
    await attachToLayout(location.path, referrer, sameKind);
    return "layout";
  }
  const { repo, close } = await RemoteRepository.open(location.ref, registry);
  try {
    return (await attachToRegistry(repo, referrer, sameKind)).api ? "referrers-api" : "tag-fallback";
  } finally {
    await close();
  }
}

/** The envelopes attached to `subject` whose predicate type is `predicateType`. */
export async function attachedAttestations(
  location: ImageLocation,
  subject: string,
  predicateType: string,
  registry: RegistryClientOptions,
): Promise<Envelope[]> {
  const where = `${subject} attestation`;
  const ofType = (d: Descriptor) => d.annotations?.[PREDICATE_ANNOTATION] === predicateType;
  if (location.transport === "oci") {
    const found = (await layoutReferrers(location.path, subject, IN_TOTO_PAYLOAD_TYPE)).filter((r) =>
      ofType(r.descriptor),
    );
    const out: Envelope[] = [];
    for (const { manifest } of found.slice(0, MAX_ATTESTATIONS)) {
      const layer = checkReferrer(manifest, subject, IN_TOTO_PAYLOAD_TYPE, where);
      out.push(parseEnvelope(await layoutPayload(location.path, layer, MAX_ATTESTATION_BYTES), where));
    }
    return out;
  }
  if (location.transport !== "docker") return [];
  const { repo, close } = await RemoteRepository.open(location.ref, registry);
  try {
    const found = (await registryReferrers(repo, subject)).filter(
      (d) => d.artifactType === IN_TOTO_PAYLOAD_TYPE && ofType(d),
    );
    const out: Envelope[] = [];
    for (const descriptor of found.slice(0, MAX_ATTESTATIONS)) {
      const layer = checkReferrer(
        await referrerManifest(repo, descriptor),
        subject,
        IN_TOTO_PAYLOAD_TYPE,
        where,
      );
      out.push(parseEnvelope(await referrerPayload(repo, layer, MAX_ATTESTATION_BYTES), where));
    }
    return out;
  } finally {
    await close();
  }
}

/** in-toto's predicate types for SBOMs (attestation spec/predicates/spdx.md and cyclonedx.md). */
export const SBOM_PREDICATE_TYPES: Record<SbomFormat, string> = {
  spdx: "https://spdx.dev/Document",
  cyclonedx: "https://cyclonedx.org/bom",
};

/**
 * Attests each attached SBOM the way the provenance is: an in-toto statement whose subject is the
 * platform image the SBOM describes and whose predicate is the SBOM, signed and attached beside it.
 */
export async function attestSboms(
  location: ImageLocation & { transport: "oci" | "docker" },
  artifact: Artifact,
  sboms: { subject: string; format: SbomFormat; bytes: Buffer }[],
  key: KeyObject,
  registry: RegistryClientOptions,
): Promise<{ subject: string; format: SbomFormat; via: AttestationVia }[]> {
  const subjects = new Map(
    artifactImages(artifact).map((i) => [imageDescriptor(i).digest, imageDescriptor(i)]),
  );
  const out: { subject: string; format: SbomFormat; via: AttestationVia }[] = [];
  for (const sbom of sboms) {
    const subject = subjects.get(sbom.subject);
    if (subject === undefined) continue;
    const statement: Statement = {
      _type: STATEMENT_TYPE,
      subject: [{ name: `sbom.${sbom.format}.json`, digest: { sha256: digestHex(subject.digest) } }],
      predicateType: SBOM_PREDICATE_TYPES[sbom.format],
      predicate: JSON.parse(sbom.bytes.toString("utf8")),
    };
    out.push({
      subject: sbom.subject,
      format: sbom.format,
      via: await attachAttestation(location, subject, statement, key, registry),
    });
  }
  return out;
}
