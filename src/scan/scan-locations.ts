import { existsSync } from "node:fs";
import { readFeed } from "../advisories/feed.js";
import { type AdvisorySource, combinedAdvisories, memoryAdvisories } from "../advisories/source.js";
import { isPostgresUrl } from "../database/open.js";
import { FleetIndex } from "../fleet/fleet-index.js";
import { indexLocation } from "../fleet/open.js";
import { archiveKind } from "../oci/homes/docker-archive.js";
import { readHome } from "../oci/homes/homes.js";
import { type Home, sourceHome } from "../oci/homes/name.js";
import { artifactImages } from "../oci/image.js";
import { platformText } from "../oci/platform.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { loadSpec } from "../spec/spec.js";
import { applyVex } from "../vex/apply.js";
import { attachedVexClaims } from "../vex/attach.js";
import { readVexFiles, type VexClaim } from "../vex/read.js";
import { type ImageScan, scanImage } from "./scan.js";

/** What scan, check and vex read advisories and images with. */
export interface ScanSources {
  /** Debian security tracker JSON or OSV feeds (files or URLs). */
  advisories?: string[];
  /** The fleet index whose advisories are read too (else STRATA_INDEX, else the default one if it exists). */
  index?: string;
  /** A spec whose repositories give newer versions' changelogs. */
  spec?: string;
  mirror?: string;
  /** The Debian release, when an image's base-files does not say. */
  release?: string;
  cacheDir?: string;
  registry: RegistryClientOptions;
}

/**
 * The advisories a command decides with: the feeds named, and the index's when one is named
 * (`index`, STRATA_INDEX) or the default one exists (never made by a scan).
 */
export async function withAdvisories<T>(
  sources: ScanSources,
  work: (source: AdvisorySource) => Promise<T>,
): Promise<T> {
  const feeds = await Promise.all((sources.advisories ?? []).map((l) => readFeed(l)));
  const fromFeeds = memoryAdvisories(feeds);
  const location = indexLocation(sources.index);
  const named = sources.index !== undefined || process.env.STRATA_INDEX !== undefined;
  if (!named && !isPostgresUrl(location) && !existsSync(location)) return work(fromFeeds);
  const index = await FleetIndex.open(location);
  try {
    return await work(combinedAdvisories([index.advisories, fromFeeds]));
  } finally {
    await index.close();
  }
}

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
