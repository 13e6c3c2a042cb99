import { parsePlatform } from "../../oci/platform.js";
import { StrataError } from "../../util/errors.js";
import { writeFileAtomic } from "../../util/fs.js";
import { locationVex } from "../../vex/location-vex.js";
import type { CommandDef } from "../command.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import { withIndexFlag } from "../index-flags.js";
import type { Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import type { CommonOptions } from "./common.js";
import { collect } from "./common.js";

interface VexFlags extends CommonOptions, RegistryFlags {
  spec?: string;
  advisories?: string[];
  index?: string;
  release?: string;
  platform?: string;
  timestamp?: string;
  output?: string;
  attach?: boolean;
}

function checkedTimestamp(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const time = Date.parse(text);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(text) || Number.isNaN(time))
    throw new StrataError("USAGE", `--timestamp ${JSON.stringify(text)} is not an RFC 3339 time`, {
      hint: "e.g. --timestamp 2026-01-31T12:00:00Z",
    });
  return new Date(time).toISOString().replace(/\.\d{3}Z$/, "Z");
}

async function vex([location]: [string], opts: VexFlags, out: Output): Promise<void> {
  if (opts.platform !== undefined) parsePlatform(opts.platform);
  const timestamp = checkedTimestamp(opts.timestamp);
  const vex = await locationVex(location, { ...opts, timestamp, registry: registryOptions(opts) });
  if (vex === undefined) {
    out.line(`${location}: strata can state nothing about its vulnerabilities: no VEX document written`);
    return;
  }
  const { doc, bytes, attached } = vex;
  if (attached) {
    out.line(
      `attached VEX ${attached.digest} (${doc.statements.length} statements) to ${attached.subject} (${attached.via})`,
    );
    if (opts.output !== undefined) await writeFileAtomic(opts.output, bytes);
    return;
  }
  if (opts.output !== undefined) return writeFileAtomic(opts.output, bytes);
  process.stdout.write(bytes);
}

export const command: CommandDef<VexFlags, [string]> = {
  name: "vex",
  summary: "the OpenVEX document of what strata knows about an image's vulnerabilities that scanners cannot",
  arguments: [
    {
      name: "<image>",
      description:
        "an image in any image location: oci:DIR[:TAG], an archive, docker://REGISTRY/REPO[:TAG] ...",
    },
  ],
  options: (cmd) =>
    withIndexFlag(
      withRegistryFlags(
        cmd
          .option("--spec <file>", "also read newer versions' changelogs from this spec's repositories")
          .option(
            "--advisories <feed>",
            "also a Debian security tracker JSON or OSV feed (file or URL); repeatable",
            collect,
          )
          .option(
            "--release <codename>",
            "the Debian release, when the image's base-files does not say (bookworm)",
          )
          .option("--platform <platform>", "which image of a multi-platform index (linux/arm64, arm64)")
          .option("--timestamp <time>", "the document's time, RFC 3339 (default: the image's creation time)")
          .option(
            "-o, --output <file>",
            "write the document to this file (default: stdout; with --attach, nowhere)",
          )
          .option("--attach", "attach it where the image lives (OCI layout or registry), beside the SBOMs"),
      ),
    ),
  notes: [
    "",
    "It states, per source package: fixed, for each CVE the package's own changelog names at or below",
    "the installed version (the .debs a strata image was built from; a foreign image's doc directory)",
    "and each advisory fixed at or below it; not_affected (vulnerable_code_not_present) where the",
    "tracker says the release never had the code or a range starts after the installed version.",
    "Nothing is stated for what any advisory still finds vulnerable. Products are the image's purl",
    "(pkg:oci/NAME@sha256:...) with the packages' purls as the SBOMs write them, and each package.",
    "Trivy reads the file: trivy image --vex FILE IMAGE (README: VEX).",
  ].join("\n"),
  examples: [
    "strata vex oci:out/app -o app.vex.json",
    "strata vex reg.example/team/app:1 --advisories debian-tracker.json --attach",
  ],
  handler: vex,
};
