import { existsSync } from "node:fs";
import type { Command } from "commander";
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
import { type ImageScan, scanImage } from "../scan/scan.js";
import { loadSpec } from "../spec/spec.js";
import { applyVex } from "../vex/apply.js";
import { attachedVexClaims } from "../vex/attach.js";
import type { VexClaim } from "../vex/read.js";
import { type CommonOptions, collect } from "./commands/common.js";
import { type RegistryFlags, registryOptions } from "./destination.js";
import { withIndexFlag } from "./index-flags.js";
import { withRegistryFlags } from "./registry-flags.js";

/** What scan, check and vex read advisories and images with: their shared flags and steps. */

export interface ScanInputs extends CommonOptions, RegistryFlags {
  spec?: string;
  release?: string;
  advisories?: string[];
  index?: string;
  /** OpenVEX files whose not_affected / fixed statements take findings out of the verdict. */
  vex?: string[];
}

/**
 * The advisories a command decides with: the feeds named with --advisories, and the index's when
 * one is named (--index, STRATA_INDEX) or the default one exists (never made by a scan).
 */
export async function withAdvisories<T>(
  opts: ScanInputs,
  work: (source: AdvisorySource) => Promise<T>,
): Promise<T> {
  const feeds = await Promise.all((opts.advisories ?? []).map((l) => readFeed(l)));
  const fromFeeds = memoryAdvisories(feeds);
  const location = indexLocation(opts.index);
  const named = opts.index !== undefined || process.env.STRATA_INDEX !== undefined;
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
  opts: ScanInputs,
  vex: VexClaim[] = [],
): Promise<{ home: Home; scans: ImageScan[] }> {
  const home = await sourceHome(location, archiveKind);
  const artifact = await readHome(home, { registry: registryOptions(opts) });
  const spec = opts.spec ? await loadSpec(opts.spec, { mirror: opts.mirror }) : undefined;
  const images = artifactImages(artifact);
  const scans: ImageScan[] = [];
  for (const image of images) {
    const reference = images.length > 1 ? `${location} (${platformText(image)})` : location;
    const ctx = { cacheRoot: opts.cacheDir };
    const scan = await scanImage(image, reference, { advisories, spec, release: opts.release, ctx });
    const attached = await attachedVexClaims(home, image, registryOptions(opts));
    scans.push(applyVex(scan, [...vex, ...attached]));
  }
  return { home, scans };
}

/** The options scan and check share. */
export function withScanInputs(cmd: Command): Command {
  return withIndexFlag(withRegistryFlags(cmd))
    .option("--spec <file>", "read newer versions' changelogs from this spec's repositories")
    .option(
      "--advisories <feed>",
      "also a Debian security tracker JSON or OSV feed (file or URL); repeatable",
      collect,
    )
    .option("--release <codename>", "the Debian release, when the image's base-files does not say (bookworm)")
    .option(
      "--vex <file>",
      "an OpenVEX file whose not_affected/fixed statements suppress findings; repeatable",
      collect,
    );
}
