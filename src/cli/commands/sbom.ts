import { Option } from "commander";
import { parsePlatform } from "../../oci/platform.js";
import { locationSbom } from "../../sbom/image-sbom.js";
import { SBOM_FORMATS, type SbomFormat } from "../../sbom/sbom.js";
import { cacheRoot } from "../../util/dirs.js";
import { StrataError } from "../../util/errors.js";
import { writeFileAtomic } from "../../util/fs.js";
import type { CommandDef } from "../command.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import type { Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import { type SigningFlags, signingKeyOf, withSigningFlags } from "../signing-flags.js";
import type { CommonOptions } from "./common.js";

interface SbomFlags extends CommonOptions, RegistryFlags, SigningFlags {
  format: SbomFormat;
  output?: string;
  platform?: string;
  attach?: boolean;
  attached: boolean;
}

/** Writes the SBOM to `output`, or to stdout (the launcher waits for stdout to drain before it exits). */
async function emit(bytes: Buffer, output: string | undefined): Promise<void> {
  if (output !== undefined) return writeFileAtomic(output, bytes);
  process.stdout.write(bytes);
}

async function sbom([location]: [string], opts: SbomFlags, out: Output): Promise<void> {
  if (opts.platform !== undefined) parsePlatform(opts.platform);
  const key = await signingKeyOf(opts);
  if (key && !opts.attach)
    throw new StrataError("USAGE", "--sign attests attached SBOMs: it needs --attach", {
      hint: "add --attach",
    });
  const context = {
    cacheRoot: cacheRoot(opts.cacheDir),
    registry: registryOptions(opts),
    onNote: (m: string) => out.line(m),
  };
  const bytes = await locationSbom(location, { ...opts, ...context, key });
  // Attaching is the point; the document itself is written only where -o asks for it.
  if (opts.attach && opts.output === undefined) return;
  await emit(bytes, opts.output);
}

export const command: CommandDef<SbomFlags, [string]> = {
  name: "sbom",
  summary:
    "the SBOM of an image (SPDX 2.3 or CycloneDX 1.6 JSON): the one attached to it, else computed from its layers",
  arguments: [
    {
      name: "<image>",
      description:
        "an image in any image location: oci:DIR[:TAG], an archive, docker://REGISTRY/REPO[:TAG] ...",
    },
  ],
  options: (cmd) =>
    withSigningFlags(
      withRegistryFlags(
        cmd
          .addOption(
            new Option("--format <format>", "spdx or cyclonedx").choices(SBOM_FORMATS).default("spdx"),
          )
          .option(
            "-o, --output <file>",
            "write the SBOM to this file (default: stdout; with --attach, nowhere)",
          )
          .option("--platform <platform>", "which image of a multi-platform index (linux/arm64, arm64)")
          .option("--attach", "attach both formats where the image lives; say what")
          .option("--no-attached", "compute the SBOM even when one is attached"),
      ),
      "with --attach: attest each attached SBOM (an in-toto statement signed with --key)",
    ),
  notes: [
    "",
    "Packages come from strata's layer annotations, else the status.d records, else",
    "/var/lib/dpkg/status; licences from machine-readable copyright files; the distro from",
    "os-release and debian_version. The same image always gives the same bytes. Attached SBOMs are OCI 1.1",
    "artifacts whose subject is the platform image manifest (in a registry without the",
    "referrers API, listed under the tag sha256-<hex>). With --attach --sign, each attached",
    "SBOM is also attested: an in-toto statement signed with --key (DSSE), attached beside it.",
  ].join("\n"),
  examples: [
    "strata sbom reg.example/team/app:1 --format cyclonedx -o bom.json",
    "strata sbom oci:out/app --attach",
    "strata sbom reg.example/team/app:1 --attach --sign --key keys/release.key",
  ],
  handler: sbom,
};
