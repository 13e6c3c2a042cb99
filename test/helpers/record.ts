import { type Image, memoryBlobs } from "../../src/oci/image.js";
import { composeImage, imageParts } from "../../src/oci/mutate.js";
import { StrataAnnotation } from "../../src/record/keys.js";
import { canonicalJson } from "../../src/record/layer-facts.js";
import { type ImageRecord, readImageRecord } from "../../src/record/record.js";
import { sha256Hex } from "../../src/util/hash.js";

/** The record an image built in a test names. */
export function recordOf(image: Image): Promise<ImageRecord> {
  return readImageRecord(image, "test");
}

/**
 * `image` naming another record: `record` as JSON (canonical), or bytes as they are; the blob is
 * served by the image's blob source as a home would.
 */
export function withRecord(image: Image, record: unknown): Image {
  const bytes = Buffer.isBuffer(record) ? record : Buffer.from(canonicalJson(record));
  const parts = imageParts(image);
  return composeImage({
    ...parts,
    annotations: { ...parts.annotations, [StrataAnnotation.record]: `sha256:${sha256Hex(bytes)}` },
    others: memoryBlobs([bytes]),
  });
}

/** `image` with each of its record's layers changed by `change`. */
export async function withRecordedLayer(
  image: Image,
  index: number,
  change: (layer: ImageRecord["layers"][number]) => unknown,
): Promise<Image> {
  const record = await recordOf(image);
  return withRecord(image, { ...record, layers: record.layers.map((l, i) => (i === index ? change(l) : l)) });
}
