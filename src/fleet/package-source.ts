import { Readable } from "node:stream";
import { isStrataImage } from "../inventory/annotations.js";
import type { Image } from "../oci/image.js";
import { StrataAnnotation } from "../record/keys.js";
import { RecordRefusedError, readImageRecord, readRecordBytes } from "../record/record.js";

/**
 * Where the index reads an image's packages from: what strata wrote (its record, or an older
 * strata's layer annotations), or its layers' dpkg records, as for any image strata did not build.
 * A strata image whose record its source does not have (copied by a tool that drops referrers),
 * or whose record is not to be believed (another blob, malformed, of other layers), is still
 * indexed, from its layers; `note` says why in one line.
 */
export interface PackageSource {
  /** Read from what strata wrote: each package is on the one layer that holds it. */
  strata: boolean;
  note?: string;
  /** The image, its record (when believed) served from memory: the add reads it once. */
  image: Image;
}

/** Where `image`'s packages are read from; a failure to read its record (network) is thrown. */
export async function packageSource(image: Image, where: string): Promise<PackageSource> {
  if (!isStrataImage(image.manifest.layers)) return { strata: false, image };
  const named = image.manifest.annotations?.[StrataAnnotation.record];
  if (named === undefined) return { strata: true, image };
  try {
    const kept = servingRecord(image, named, await readRecordBytes(image, where));
    await readImageRecord(kept, where);
    return { strata: true, image: kept };
  } catch (err) {
    if (!(err instanceof RecordRefusedError)) throw err;
    const believed = err.fault === "absent" ? "" : "not believed, so ";
    return {
      strata: false,
      note: `${err.message}; ${believed}its packages were read from its layers`,
      image,
    };
  }
}

/** `image` whose blob source serves the record `named` from `bytes`, and every other blob as before. */
function servingRecord(image: Image, named: string, bytes: Buffer): Image {
  const source = image.blobs;
  const open = async (digest: string, limit?: { maxBytes: number }) =>
    digest === named ? Readable.from([bytes]) : source.open(digest, limit);
  const localPath = source.localPath?.bind(source);
  return { ...image, blobs: localPath ? { open, localPath } : { open } };
}
