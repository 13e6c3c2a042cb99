import { archiveKind } from "../oci/locations/docker-archive.js";
import { sourceLocation } from "../oci/locations/name.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { loadPublicKey } from "./keys.js";
import { type VerifyReport, verifyImage } from "./sign-image.js";

/** `strata verify`: the image at a location checked against the public keys in `keyFiles`. */
export async function verifyLocation(
  location: string,
  keyFiles: string[],
  opts: { registry: RegistryClientOptions; provenance?: boolean },
): Promise<VerifyReport> {
  const imageLocation = await sourceLocation(location, archiveKind);
  const keys = await Promise.all(keyFiles.map((f) => loadPublicKey(f)));
  return verifyImage(imageLocation, keys, opts);
}
