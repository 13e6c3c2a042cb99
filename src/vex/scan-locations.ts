import type { AdvisorySource } from "../advisories/source.js";
import { artifactImages } from "../oci/image.js";
import { archiveKind } from "../oci/locations/docker-archive.js";
import { readLocation } from "../oci/locations/locations.js";
import { type ImageLocation, sourceLocation } from "../oci/locations/name.js";
import { platformText } from "../oci/platform.js";
import { type ScanSources, withAdvisories } from "../scan/advisory-sources.js";
import { type ImageScan, scanImage } from "../scan/scan.js";
import { loadSpec } from "../spec/spec.js";
import { applyVex } from "./apply.js";
import { attachedVexClaims } from "./attach.js";
import { readVexFiles, type VexClaim } from "./read.js";

/**
 * Scans every image at a location (each platform of an index), and says which image location it is; the
 * `vex` claims (--vex files) and the VEX attached to each image take findings out of the verdict.
 */
export async function scanLocation(
  location: string,
  advisories: AdvisorySource,
  sources: ScanSources,
  vex: VexClaim[] = [],
): Promise<{ imageLocation: ImageLocation; scans: ImageScan[] }> {
  const imageLocation = await sourceLocation(location, archiveKind);
  const artifact = await readLocation(imageLocation, { registry: sources.registry });
  const spec = sources.spec ? await loadSpec(sources.spec, { mirror: sources.mirror }) : undefined;
  const images = artifactImages(artifact);
  const scans: ImageScan[] = [];
  for (const image of images) {
    const reference = images.length > 1 ? `${location} (${platformText(image)})` : location;
    const ctx = { cacheRoot: sources.cacheDir };
    const scan = await scanImage(image, reference, { advisories, spec, release: sources.release, ctx });
    const attached = await attachedVexClaims(imageLocation, image, sources.registry);
    scans.push(applyVex(scan, [...vex, ...attached]));
  }
  return { imageLocation: imageLocation, scans };
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
