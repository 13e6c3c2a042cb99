import { type Artifact, artifactImages, type Image, imageDescriptor, type Referrer } from "../oci/image.js";
import { referrerOf } from "../oci/referrers.js";
import { fallbackTag } from "../oci/registry/referrers.js";
import { Annotation } from "../oci/types.js";
import { RECORD_ARTIFACT_TYPE, RECORD_MEDIA_TYPE } from "./keys.js";
import { RecordRefusedError, readRecordBytes } from "./record.js";

/**
 * The record travels with its image: wherever an image is written, an OCI 1.1 artifact whose
 * subject is the image holds it (config the empty descriptor, one layer the record blob), so a
 * layout, an oci-archive or a registry repository that has the image has its record too, and a
 * registry's garbage collection keeps it (the artifact's manifest names the blob).
 */

/**
 * The artifact carrying `image`'s record, whose bytes are `bytes`; in a registry it is also tagged
 * `sha256-<hex of the image>.record`, so collecting untagged manifests keeps it.
 */
export function recordReferrer(image: Image, bytes: Buffer): Referrer {
  const subject = imageDescriptor(image);
  const created = image.manifest.annotations?.[Annotation.created];
  const referrer = referrerOf(
    subject,
    RECORD_ARTIFACT_TYPE,
    { bytes, title: "strata-record.json", mediaType: RECORD_MEDIA_TYPE },
    created === undefined ? {} : { [Annotation.created]: created },
  );
  return { ...referrer, tag: `${fallbackTag(subject.digest)}.record` };
}

/**
 * `artifact` with each image's record attached (Image.attached), read through the image's blob
 * source, so any image location it is written to gets it. An image whose manifest names no record gets none;
 * one whose source has no such blob (copied by a tool that drops referrers) gets none either, and
 * `onNote` is told in one line: the copy is as accountable as its source. Any other failure to
 * read the record (network, a blob that is not the one named, too big) fails the copy.
 */
export async function withRecords(
  artifact: Artifact,
  onNote: (line: string) => void = () => {},
): Promise<Artifact> {
  const images: Image[] = [];
  for (const image of artifactImages(artifact)) {
    if (image.attached !== undefined) {
      images.push(image);
      continue;
    }
    try {
      const bytes = await readRecordBytes(image, imageDescriptor(image).digest);
      images.push({ ...image, attached: [recordReferrer(image, bytes)] });
    } catch (err) {
      if (!(err instanceof RecordRefusedError) || err.fault === "untrusted") throw err;
      if (err.fault === "absent") onNote(`note: ${err.message}; copied without it`);
      images.push(image);
    }
  }
  if (artifact.kind === "image") return { kind: "image", image: images[0] };
  return { kind: "index", index: { ...artifact.index, images } };
}
