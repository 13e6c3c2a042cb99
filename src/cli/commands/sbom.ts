import type { KeyObject } from "node:crypto";
import { Option } from "commander";
import { archiveKind } from "../../oci/homes/docker-archive.js";
import { readHome } from "../../oci/homes/homes.js";
import { type Home, homeText, sourceHome } from "../../oci/homes/name.js";
import { artifactImages, type Image } from "../../oci/image.js";
import { chooseImage, parsePlatform } from "../../oci/platform.js";
import { attachedSbom, attachSboms } from "../../sbom/attach.js";
import { attachedSbomDisagreement } from "../../sbom/attached-check.js";
import { computeSboms, SBOM_FORMATS, type SbomFormat } from "../../sbom/sbom.js";
import { ImageFacts } from "../../sbom/subject.js";
import { attestSboms } from "../../sign/attestations.js";
import { assertSignable } from "../../sign/sign-image.js";
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

/** --attach: both formats attached where the image lives (attested with --sign), one written with -o. */
async function attach(home: Home, image: Image, key: KeyObject | undefined, opts: SbomFlags, out: Output) {
  const registry = registryOptions(opts);
  const reports = await attachSboms(
    home,
    { kind: "image", image },
    { registry, facts: new ImageFacts({ cacheRoot: cacheRoot(opts.cacheDir) }) },
  );
  for (const r of reports)
    out.line(`attached ${r.format} SBOM ${r.digest} to ${r.platform} ${r.subject} (${r.via})`);
  if (key) {
    assertSignable(home);
    for (const a of await attestSboms(home, { kind: "image", image }, reports, key, registry))
      out.line(`attested the ${a.format} SBOM of ${a.subject} (${a.via})`);
  }
  // Attaching is the point; the document itself is written only where -o asks for it.
  if (opts.output === undefined) return;
  return writeFileAtomic(opts.output, reports.find((r) => r.format === opts.format)!.bytes);
}

/** The attached SBOM when there is one that agrees with the image, else none (said why). */
async function attachedBytes(
  home: Home,
  image: Image,
  opts: SbomFlags,
  out: Output,
): Promise<Buffer | undefined> {
  const found = await attachedSbom(home, image, opts.format, { registry: registryOptions(opts) });
  if (found === undefined) return undefined;
  const wrong = await attachedSbomDisagreement(image, found.bytes, opts.format, homeText(home));
  if (wrong) {
    out.line(
      `warning: the ${opts.format} SBOM attached to ${homeText(home)} (${found.digest}) ${wrong}: not used; computed from the image instead`,
    );
    return undefined;
  }
  out.line(`the ${opts.format} SBOM attached to ${homeText(home)} (${found.digest})`);
  return found.bytes;
}

async function sbom([location]: [string], opts: SbomFlags, out: Output): Promise<void> {
  if (opts.platform !== undefined) parsePlatform(opts.platform);
  const key = await signingKeyOf(opts);
  if (key && !opts.attach)
    throw new StrataError("USAGE", "--sign attests attached SBOMs: it needs --attach", {
      hint: "add --attach",
    });
  const home = await sourceHome(location, archiveKind);
  const artifact = await readHome(home, { registry: registryOptions(opts) });
  const image = chooseImage(
    artifactImages(artifact),
    opts.platform,
    `${location}: an SBOM describes one image`,
  );
  if (opts.attach) return attach(home, image, key, opts, out);
  const attached = opts.attached ? await attachedBytes(home, image, opts, out) : undefined;
  if (attached !== undefined) return emit(attached, opts.output);
  const facts = new ImageFacts({ cacheRoot: cacheRoot(opts.cacheDir) });
  const sboms = await computeSboms(image, [opts.format], homeText(home), facts);
  await emit(sboms.get(opts.format)!, opts.output);
}

export const command: CommandDef<SbomFlags, [string]> = {
  name: "sbom",
  summary:
    "the SBOM of an image (SPDX 2.3 or CycloneDX 1.6 JSON): the one attached to it, else computed from its layers",
  arguments: [
    {
      name: "<image>",
      description: "an image in any home: oci:DIR[:TAG], an archive, docker://REGISTRY/REPO[:TAG] ...",
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
