import type { Home } from "../oci/homes/name.js";
import { formatReference } from "../oci/reference.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import type { ImageScan } from "../scan/scan.js";
import { anyKeyVerdict, verifyImage } from "../sign/sign-image.js";
import type { ImageFacts, Verification } from "./evaluate.js";
import type { TrustedKey } from "./policy.js";

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

/** Whether one of `keys` signed the artifact at `home`; undefined when the policy names no key. */
export async function homeSignatureVerdict(
  home: Home,
  keys: TrustedKey[],
  registry: RegistryClientOptions,
): Promise<Verification | undefined> {
  if (keys.length === 0) return undefined;
  const report = await verifyImage(
    home,
    keys.map((k) => k.key),
    { registry },
  );
  return anyKeyVerdict(report.keys);
}
