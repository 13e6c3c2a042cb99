import type { Command } from "commander";
import type { ScanSources } from "../scan/advisory-sources.js";
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

/** The flags as the library reads them. */
export function scanSources(opts: ScanInputs): ScanSources {
  return { ...opts, registry: registryOptions(opts) };
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
