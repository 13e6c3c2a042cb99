import { Option } from "commander";
import { uncoveredText } from "../../advisories/coverage.js";
import { SEVERITIES } from "../../advisories/severity.js";
import { scanFleet } from "../../scan/fleet-scan.js";
import { type FailOn, failOnVerdict, scanJson, scanLines } from "../../scan/report.js";
import { scanSarif } from "../../scan/sarif.js";
import type { ImageScan } from "../../scan/scan.js";
import { StrataError } from "../../util/errors.js";
import { STRATA_VERSION } from "../../util/version.js";
import { scanLocations } from "../../vex/scan-locations.js";
import type { CommandDef } from "../command.js";
import { ExitStatus } from "../exit-status.js";
import { withIndex } from "../index-flags.js";
import type { Output } from "../output.js";
import { type ScanInputs, scanSources, withScanInputs } from "../scan-inputs.js";

/** The exit status of a scan that finds what --fail-on names (1 is an error, 2 a usage error). */
const SCAN_FAILED = 3;

interface ScanFlags extends ScanInputs {
  fleet?: boolean;
  /** With --fleet: superseded images too. */
  all?: boolean;
  json?: boolean;
  sarif?: boolean;
  failOn?: FailOn;
}

async function runScan(locations: string[], opts: ScanFlags): Promise<ImageScan[]> {
  if (opts.fleet) {
    if (locations.length > 0 || opts.spec || opts.advisories?.length || opts.vex?.length) {
      throw new StrataError(
        "USAGE",
        "scan --fleet reads the index alone: give no images, --spec, --advisories or --vex",
        {
          hint: "store feeds and evidence first: strata advisories update --from FEED --spec SPEC",
        },
      );
    }
    return withIndex(opts, (index) => scanFleet(index, { release: opts.release, all: opts.all }));
  }
  if (opts.all)
    throw new StrataError("USAGE", "--all goes with --fleet", {
      hint: "strata scan --fleet --all also scans superseded images (no tag names them any more)",
    });
  if (locations.length === 0)
    throw new StrataError("USAGE", "scan needs images, or --fleet", { hint: "e.g. strata scan oci:out" });
  return scanLocations(locations, scanSources(opts), opts.vex ?? []);
}

async function scan([locations]: [string[]], opts: ScanFlags, out: Output): Promise<void> {
  const scans = await runScan(locations, opts);
  if (opts.sarif) out.json(scanSarif(scans, STRATA_VERSION));
  else if (opts.json) out.json(scanJson(scans));
  else process.stdout.write(`${scans.flatMap(scanLines).join("\n")}\n`);
  if (opts.failOn === undefined) return;
  const { failing, unknown } = failOnVerdict(scans, opts.failOn);
  if (failing.length > 0) out.line(`strata: ${failing.length} findings at or above --fail-on ${opts.failOn}`);
  for (const s of unknown)
    out.line(
      `strata: ${s.reference}: ${uncoveredText(s.coverage)}: --fail-on cannot pass what it cannot see`,
    );
  if (failing.length > 0 || unknown.length > 0) throw new ExitStatus(SCAN_FAILED);
}

export const command: CommandDef<ScanFlags, [string[]]> = {
  name: "scan",
  summary: "list the known vulnerabilities of images' Debian packages, and which an update fixes now",
  arguments: [
    {
      name: "[image...]",
      description: "images in any image location: a layout, an archive, oci:DIR, docker://REF ...",
    },
  ],
  options: (cmd) =>
    withScanInputs(
      cmd
        .option("--fleet", "scan every image of the index, from the database alone")
        .option("--all", "with --fleet, superseded images too (no tag names them any more)"),
    )
      .addOption(new Option("--json", "print the findings as JSON on stdout").conflicts("sarif"))
      .option("--sarif", "print SARIF 2.1.0 on stdout, for code-scanning dashboards")
      .addOption(
        new Option("--fail-on <level>", `exit ${SCAN_FAILED} at this level`).choices([
          ...SEVERITIES.filter((s) => s !== "unknown" && s !== "negligible"),
          "fixable",
        ]),
      ),
  notes: [
    "",
    "Advisories come from the index (strata advisories update) and --advisories feeds; with --spec, also",
    "from the changelogs of the newer .debs that spec's repositories offer (a security suite the image",
    "was not locked with, for instance). An image whose release nothing covers is UNKNOWN, not clean.",
    "A finding an OpenVEX statement (--vex, or attached to the image: strata vex --attach) marks",
    "not_affected or fixed is listed as suppressed, with the statement's source, and fails nothing.",
    "",
    `Exit status: 0 nothing at or above --fail-on, ${SCAN_FAILED} findings at or above it (or an image`,
    "nothing covers), 1 an error, 2 a usage error.",
  ].join("\n"),
  examples: [
    "strata scan reg.example/team/app:1 --spec strata.yaml --fail-on high",
    "strata scan --fleet --sarif > fleet.sarif",
  ],
  handler: scan,
};
