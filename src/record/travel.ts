import { type Artifact, artifactImages, imageDescriptor } from "../oci/image.js";
import { type Referrer, referrerOf } from "../oci/referrers.js";
import { Annotation } from "../oci/types.js";
import { StrataError } from "../util/errors.js";
import { RECORD_ARTIFACT_TYPE, RECORD_MEDIA_TYPE } from "./keys.js";
import { readRecordBytes } from "./record.js";

/**
 * The record travels with its image: wherever an image is written, an OCI 1.1 artifact whose
 * subject is the image holds it (config the empty descriptor, one layer the record blob), so a
 * layout, an archive or a registry repository that has the image has its record too, and a
 * registry's garbage collection keeps it (the artifact's manifest names the blob).
 */

/**
 * The artifacts carrying the records of `artifact`'s images. An image whose manifest names no
 * record, or whose record its source does not have, gets none: a copy is as accountable as its
 * source, and accounting says why it is not.
 */
export async function recordReferrers(artifact: Artifact): Promise<Referrer[]> {
  const out: Referrer[] = [];
  for (const image of artifactImages(artifact)) {
    const subject = imageDescriptor(image);
    let bytes: Buffer;
    try {
      bytes = await readRecordBytes(image, subject.digest);
    } catch (err) {
      if (err instanceof StrataError && err.code === "IMAGE_UNACCOUNTED") continue;
      throw err;
    }
    const created = image.manifest.annotations?.[Annotation.created];
    out.push(
      referrerOf(
        subject,
        RECORD_ARTIFACT_TYPE,
        { bytes, title: "strata-record.json", mediaType: RECORD_MEDIA_TYPE },
        created === undefined ? {} : { [Annotation.created]: created },
      ),
    );
  }
  return out;
}
