import { archiveKind } from "../oci/homes/docker-archive.js";
import { sourceHome } from "../oci/homes/name.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { loadPublicKey } from "./keys.js";
import { type VerifyReport, verifyImage } from "./sign-image.js";

/** `strata verify`: the image at a location checked against the public keys in `keyFiles`. */
export async function verifyLocation(
  location: string,
  keyFiles: string[],
  opts: { registry: RegistryClientOptions; provenance?: boolean },
): Promise<VerifyReport> {
  const home = await sourceHome(location, archiveKind);
  const keys = await Promise.all(keyFiles.map((f) => loadPublicKey(f)));
  return verifyImage(home, keys, opts);
}
