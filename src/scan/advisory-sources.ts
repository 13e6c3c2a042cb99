import { existsSync } from "node:fs";
import { readFeed } from "../advisories/feed.js";
import { type AdvisorySource, combinedAdvisories, memoryAdvisories } from "../advisories/source.js";
import { isPostgresUrl } from "../database/open.js";
import { FleetIndex } from "../fleet/fleet-index.js";
import { indexLocation } from "../fleet/open.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";

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
