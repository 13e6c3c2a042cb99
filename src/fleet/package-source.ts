import { isStrataImage } from "../inventory/annotations.js";
import type { Image } from "../oci/image.js";
import { StrataAnnotation } from "../record/keys.js";
import { RecordRefusedError, readImageRecord } from "../record/record.js";

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
}

/**
 * Where `image`'s packages are read from; a failure to read its record (network) is thrown. A record
 * believed here is kept with the image, so the rest of the add does not read it again.
 */
export async function packageSource(image: Image, where: string): Promise<PackageSource> {
  if (!isStrataImage(image.manifest.layers)) return { strata: false };
  if (image.manifest.annotations?.[StrataAnnotation.record] === undefined) return { strata: true };
  try {
    await readImageRecord(image, where);
    return { strata: true };
  } catch (err) {
    if (!(err instanceof RecordRefusedError)) throw err;
    const believed = err.fault === "absent" ? "" : "not believed, so ";
    return {
      strata: false,
      note: `${err.message}; ${believed}its packages were read from its layers`,
    };
  }
}
