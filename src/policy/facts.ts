import type { Home } from "../oci/homes/name.js";
import { formatReference } from "../oci/reference.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import type { ImageScan } from "../scan/scan.js";
import { anyKeyVerdict, verifyImage } from "../sign/sign-image.js";
import type { ImageFacts } from "./evaluate.js";
import type { Policy } from "./policy.js";

/**
 * The policy's facts about a scanned image in a home. A registry image is pinned when it was named
 * by digest and known by its registry/repository; an image in a local layout or archive is the
 * bytes at hand (what CI just built), so it counts as pinned and is known by its path.
 */
export function scannedImageFacts(scan: ImageScan, home: Home, hasSbom?: boolean): ImageFacts {
  const registry = home.transport === "docker";
  const repository = registry
    ? formatReference({ registry: home.ref.registry, repository: home.ref.repository })
    : home.path;
  return {
    reference: scan.reference,
    repository,
    digest: scan.digest,
    pinned: registry ? home.ref.digest !== undefined : true,
    builtByStrata: scan.builtByStrata,
    hasSbom,
    packages: scan.packages,
    findings: scan.findings,
    suppressed: scan.suppressed,
    coverage: scan.coverage,
  };
}

/**
 * Whether one of the policy's `signed-by` keys signed the artifact at `home`, and with
 * `provenance`, whether a provenance they signed is the image's; nothing when the policy asks
 * for neither.
 */
export async function homeSignatureFacts(
  home: Home,
  require: Policy["require"],
  registry: RegistryClientOptions,
): Promise<Pick<ImageFacts, "signature" | "provenance">> {
  if (require.signedBy.length === 0) return {};
  const keys = require.signedBy.map((k) => k.key);
  const report = await verifyImage(home, keys, { registry, provenance: require.provenance });
  return { signature: anyKeyVerdict(report.keys), provenance: report.provenance };
}
