import type { Home } from "../oci/homes/name.js";
import { formatReference } from "../oci/reference.js";
import type { ImageScan } from "../scan/scan.js";
import type { ImageFacts } from "./evaluate.js";

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
  };
}
