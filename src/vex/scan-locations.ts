import type { AdvisorySource } from "../advisories/source.js";
import { archiveKind } from "../oci/homes/docker-archive.js";
import { readHome } from "../oci/homes/homes.js";
import { type Home, sourceHome } from "../oci/homes/name.js";
import { artifactImages } from "../oci/image.js";
import { platformText } from "../oci/platform.js";
import { type ScanSources, withAdvisories } from "../scan/advisory-sources.js";
import { type ImageScan, scanImage } from "../scan/scan.js";
import { loadSpec } from "../spec/spec.js";
import { applyVex } from "./apply.js";
import { attachedVexClaims } from "./attach.js";
import { readVexFiles, type VexClaim } from "./read.js";

/**
 * Scans every image at a location (each platform of an index), and says which home it is; the
 * `vex` claims (--vex files) and the VEX attached to each image take findings out of the verdict.
 */
export async function scanLocation(
  location: string,
  advisories: AdvisorySource,
  sources: ScanSources,
  vex: VexClaim[] = [],
): Promise<{ home: Home; scans: ImageScan[] }> {
  const home = await sourceHome(location, archiveKind);
  const artifact = await readHome(home, { registry: sources.registry });
  const spec = sources.spec ? await loadSpec(sources.spec, { mirror: sources.mirror }) : undefined;
  const images = artifactImages(artifact);
  const scans: ImageScan[] = [];
  for (const image of images) {
    const reference = images.length > 1 ? `${location} (${platformText(image)})` : location;
    const ctx = { cacheRoot: sources.cacheDir };
    const scan = await scanImage(image, reference, { advisories, spec, release: sources.release, ctx });
    const attached = await attachedVexClaims(home, image, sources.registry);
    scans.push(applyVex(scan, [...vex, ...attached]));
  }
  return { home, scans };
}

/** `strata scan IMAGE...`: every image at each location scanned, the `vexFiles` statements applied. */
export async function scanLocations(
  locations: string[],
  sources: ScanSources,
  vexFiles: string[],
): Promise<ImageScan[]> {
  const vex = await readVexFiles(vexFiles);
  return withAdvisories(sources, async (advisories) => {
    const scans: ImageScan[] = [];
    for (const location of locations)
      scans.push(...(await scanLocation(location, advisories, sources, vex)).scans);
    return scans;
  });
}
