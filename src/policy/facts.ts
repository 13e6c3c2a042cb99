import type { ImageLocation } from "../oci/locations/name.js";
import { formatReference } from "../oci/reference.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import type { ImageScan } from "../scan/scan.js";
import { anyKeyVerdict, verifyImage } from "../sign/sign-image.js";
import type { ImageFacts } from "./evaluate.js";
import type { Policy } from "./policy.js";

/**
 * The policy's facts about a scanned image in an image location. A registry image is pinned when it was named
 * by digest and known by its registry/repository; an image in a local layout or archive is the
 * bytes at hand (what CI just built), so it counts as pinned and is known by its path.
 */
export function scannedImageFacts(scan: ImageScan, location: ImageLocation, hasSbom?: boolean): ImageFacts {
  const registry = location.transport === "docker";
  const repository = registry
    ? formatReference({ registry: location.ref.registry, repository: location.ref.repository })
    : location.path;
  return {
    reference: scan.reference,
    repository,
    digest: scan.digest,
    pinned: registry ? location.ref.digest !== undefined : true,
    builtByStrata: scan.builtByStrata,
    hasSbom,
    packages: scan.packages,
    findings: scan.findings,
    suppressed: scan.suppressed,
    coverage: scan.coverage,
  };
}

/**
 * Whether one of the policy's `signed-by` keys signed the artifact at `location`, and with
 * `provenance`, whether a provenance they signed is the image's; nothing when the policy asks
 * for neither.
 */
export async function locationSignatureFacts(
  location: ImageLocation,
  require: Policy["require"],
  registry: RegistryClientOptions,
): Promise<Pick<ImageFacts, "signature" | "provenance">> {
  if (require.signedBy.length === 0) return {};
  const keys = require.signedBy.map((k) => k.key);
  const report = await verifyImage(location, keys, { registry, provenance: require.provenance });
  return { signature: anyKeyVerdict(report.keys), provenance: report.provenance };
}
