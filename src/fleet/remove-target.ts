import { parseLocationName } from "../oci/locations/name.js";
import { parseReference } from "../oci/reference.js";
import { SHA256_DIGEST } from "../util/verify.js";
import { refOf } from "./location-ref.js";
import type { RemoveTarget } from "./remove.js";

/** What a name given to `index rm` takes out: a digest, a registry reference or a local image location's name. */
export function removeTarget(text: string): RemoveTarget {
  if (SHA256_DIGEST.test(text)) return { digest: text };
  const location = parseLocationName(text);
  if (location !== undefined && location.transport !== "docker") {
    const { registry, repository, tag } = refOf(location, "");
    return { ref: { registry, repository, tag } };
  }
  const bare = location?.transport === "docker" ? location.text : text;
  const ref = parseReference(bare);
  if (ref.digest !== undefined) return { digest: ref.digest };
  // No tag written: every tag of the repository.
  const tagWritten = bare.lastIndexOf(":") > bare.lastIndexOf("/");
  return {
    ref: { registry: ref.registry, repository: ref.repository, tag: tagWritten ? (ref.tag ?? "") : "" },
  };
}
