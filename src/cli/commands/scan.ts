import { type Command, Option } from "commander";
import type { Advisory } from "../../advisories/advisory.js";
import { readFeed } from "../../advisories/feed.js";
import { SEVERITIES } from "../../advisories/severity.js";
import { archiveKind } from "../../oci/homes/docker-archive.js";
import { readHome } from "../../oci/homes/homes.js";
import { type Home, sourceHome } from "../../oci/homes/name.js";
import { artifactImages } from "../../oci/image.js";
import { platformText } from "../../oci/platform.js";
import { type FailOn, failsOn, scanJson, scanLines } from "../../scan/report.js";
import { scanSarif } from "../../scan/sarif.js";
import { type ImageScan, scanImage } from "../../scan/scan.js";
import { loadSpec } from "../../spec/spec.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import { ExitStatus } from "../exit-status.js";
import type { Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import type { CommonOptions } from "./common.js";

/** The exit status of a scan that finds what --fail-on names (1 is an error, 2 a usage error). */
export const SCAN_FAILED = 3;

interface ScanFlags extends ScanInputs {
  advisories?: string[];
  json?: boolean;
  sarif?: boolean;
  failOn?: FailOn;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** The advisories of every feed given with --advisories, read and validated. */
export async function feedAdvisories(locations: string[] = []): Promise<Advisory[]> {
  const feeds = await Promise.all(locations.map((l) => readFeed(l)));
  return feeds.flatMap((f) => f.advisories);
}

export interface ScanInputs extends CommonOptions, RegistryFlags {
  spec?: string;
  release?: string;
}

/** Scans every image at a location (each platform of an index), and says which home it is. */
export async function scanLocation(
  location: string,
  advisories: Advisory[],
  opts: ScanInputs,
): Promise<{ home: Home; scans: ImageScan[] }> {
  const home = await sourceHome(location, archiveKind);
  const artifact = await readHome(home, { registry: registryOptions(opts) });
  const spec = opts.spec ? await loadSpec(opts.spec, { mirror: opts.mirror }) : undefined;
  const images = artifactImages(artifact);
  const scans: ImageScan[] = [];
  for (const image of images) {
    const reference = images.length > 1 ? `${location} (${platformText(image)})` : location;
    scans.push(
      await scanImage(image, reference, {
        advisories,
        spec,
        release: opts.release,
        ctx: { cacheRoot: opts.cacheDir },
      }),
    );
  }
  return { home, scans };
}

export function registerScan(program: Command, out: () => Output): void {
  withRegistryFlags(
    program
      .command("scan")
      .description("list the known vulnerabilities of images' Debian packages, and which an update fixes now")
      .argument("<image...>", "images in any home: a layout, an archive, oci:DIR, docker://REF ...")
      .option("--spec <file>", "ask this spec's repositories for newer versions and their changelogs' CVEs")
      .option(
        "--advisories <feed>",
        "a Debian security tracker JSON or OSV feed (file or URL); repeatable",
        collect,
      )
      .option(
        "--release <codename>",
        "the Debian release, when the image's base-files does not say (bookworm)",
      )
      .addOption(new Option("--json", "print the findings as JSON on stdout").conflicts("sarif"))
      .option("--sarif", "print SARIF 2.1.0 on stdout, for code-scanning dashboards")
      .addOption(
        new Option(
          "--fail-on <level>",
          `exit ${SCAN_FAILED} when a finding is at or above this severity, or has a fix ("fixable")`,
        ).choices([...SEVERITIES.filter((s) => s !== "unknown" && s !== "negligible"), "fixable"]),
      )
      .addHelpText(
        "after",
        `\nExit status: 0 nothing at or above --fail-on, ${SCAN_FAILED} findings at or above it, 1 an error, 2 a usage error.`,
      ),
  ).action(async (locations: string[], opts: ScanFlags, cmd: Command) => {
    const advisories = await feedAdvisories(opts.advisories);
    const scans: ImageScan[] = [];
    for (const location of locations) scans.push(...(await scanLocation(location, advisories, opts)).scans);
    if (opts.sarif)
      process.stdout.write(`${JSON.stringify(scanSarif(scans, cmd.parent?.version() ?? ""))}\n`);
    else if (opts.json) process.stdout.write(`${JSON.stringify(scanJson(scans))}\n`);
    else process.stdout.write(`${scans.flatMap(scanLines).join("\n")}\n`);
    const failOn = opts.failOn;
    const failing = failOn ? scans.flatMap((s) => s.findings.filter((f) => failsOn(f, failOn))) : [];
    if (failing.length > 0) {
      out().line(`strata: ${failing.length} findings at or above --fail-on ${failOn}`);
      throw new ExitStatus(SCAN_FAILED);
    }
  });
}
