import {
  type AttachableLocation,
  type AttachVia,
  assertAttachable,
  attachedPayloads,
  withAttacher,
} from "../oci/attached.js";
import { type Image, imageDescriptor } from "../oci/image.js";
import type { ImageLocation } from "../oci/locations/name.js";
import { referrerOf } from "../oci/referrers.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { Annotation, type Descriptor } from "../oci/types.js";
import { createdOf } from "../sbom/subject.js";
import { MAX_VEX_BYTES, VEX_MEDIA_TYPE } from "./document.js";
import type { VexClaim } from "./read.js";

/** An OpenVEX document attached to its image as an OCI 1.1 artifact, beside the SBOMs; and read back. */

/** Marks strata's own VEX referrer: a new one replaces it, a team's attached VEX stays. */
const VEX_ANNOTATION = "dev.strata.vex";

export interface VexAttachReport {
  subject: string;
  digest: string;
  via: AttachVia;
}

/** Throws unless `location` has a place for referrers: say so before any work is done. */
export function assertVexAttachable(location: ImageLocation): asserts location is AttachableLocation {
  assertAttachable(
    location,
    "VEX is attached",
    "attach to oci:DIR or docker://REGISTRY/REPO, or write it to a file with -o",
  );
}

export async function attachVex(
  location: ImageLocation,
  image: Image,
  bytes: Buffer,
  registry: RegistryClientOptions = {},
): Promise<VexAttachReport> {
  assertVexAttachable(location);
  const subject = imageDescriptor(image);
  const annotations = { [Annotation.created]: createdOf(image), [VEX_ANNOTATION]: "strata" };
  const referrer = referrerOf(subject, VEX_MEDIA_TYPE, { bytes, title: "vex.openvex.json" }, annotations);
  const strataVex = (d: Descriptor) => d.annotations?.[VEX_ANNOTATION] === "strata";
  const via = await withAttacher(location, registry, (attach) => attach(referrer, strataVex));
  return { subject: subject.digest, digest: referrer.descriptor.digest, via };
}

/** Strata's and a team's: more VEX documents than this on one image are not read (the latest are). */
const MAX_ATTACHED_VEX = 16;

/** The OpenVEX documents attached to `image` where `location` keeps it (not yet checked), oldest first. */
export async function attachedVex(
  location: ImageLocation,
  image: Image,
  registry: RegistryClientOptions = {},
): Promise<{ bytes: Buffer; digest: string }[]> {
  const limits = { max: MAX_VEX_BYTES, count: MAX_ATTACHED_VEX };
  return attachedPayloads(location, imageDescriptor(image).digest, VEX_MEDIA_TYPE, limits, registry);
}

/** The claims of every OpenVEX document attached to `image`, each named "attached sha256:...". */
export async function attachedVexClaims(
  location: ImageLocation,
  image: Image,
  registry: RegistryClientOptions = {},
): Promise<VexClaim[]> {
  const documents = await attachedVex(location, image, registry);
  // Reading VEX loads the schema's validator: a build, which only attaches, does not need it.
  const { vexClaims } = await import("./read.js");
  return documents.flatMap(({ bytes, digest }) => vexClaims(bytes, `attached ${digest}`));
}
