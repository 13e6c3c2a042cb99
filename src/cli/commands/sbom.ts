import { type Command, Option } from "commander";
import { archiveKind } from "../../oci/homes/docker-archive.js";
import { readHome } from "../../oci/homes/homes.js";
import { homeText, sourceHome } from "../../oci/homes/name.js";
import { artifactImages } from "../../oci/image.js";
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
import { type RegistryFlags, registryOptions } from "../destination.js";
import { examples } from "../help.js";
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

export function registerSbom(program: Command, out: () => Output): void {
  withSigningFlags(
    withRegistryFlags(
      program
        .command("sbom")
        .description(
          "the SBOM of an image (SPDX 2.3 or CycloneDX 1.6 JSON): the one attached to it, else computed from its layers",
        )
        .argument(
          "<image>",
          "an image in any home: oci:DIR[:TAG], an archive, docker://REGISTRY/REPO[:TAG] ...",
        )
        .addOption(new Option("--format <format>", "spdx or cyclonedx").choices(SBOM_FORMATS).default("spdx"))
        .option(
          "-o, --output <file>",
          "write the SBOM to this file (default: stdout; with --attach, nowhere)",
        )
        .option("--platform <platform>", "which image of a multi-platform index (linux/arm64, arm64)")
        .option("--attach", "attach both formats where the image lives; say what")
        .option("--no-attached", "compute the SBOM even when one is attached")
        .addHelpText(
          "after",
          [
            "",
            "Packages come from strata's layer annotations, else the status.d records, else",
            "/var/lib/dpkg/status; licences from machine-readable copyright files; the distro from",
            "os-release and debian_version. The same image always gives the same bytes. Attached SBOMs are OCI 1.1",
            "artifacts whose subject is the platform image manifest (in a registry without the",
            "referrers API, listed under the tag sha256-<hex>). With --attach --sign, each attached",
            "SBOM is also attested: an in-toto statement signed with --key (DSSE), attached beside it.",
          ].join("\n"),
        ),
    ),
    "with --attach: attest each attached SBOM (an in-toto statement signed with --key)",
  )
    .addHelpText(
      "after",
      examples(
        "strata sbom reg.example/team/app:1 --format cyclonedx -o bom.json",
        "strata sbom oci:out/app --attach",
        "strata sbom reg.example/team/app:1 --attach --sign --key keys/release.key",
      ),
    )
    .action(async (location: string, opts: SbomFlags) => {
      if (opts.platform !== undefined) parsePlatform(opts.platform);
      const key = await signingKeyOf(opts);
      if (key && !opts.attach)
        throw new StrataError("USAGE", "--sign attests attached SBOMs: it needs --attach", {
          hint: "add --attach",
        });
      const home = await sourceHome(location, archiveKind);
      const registry = registryOptions(opts);
      const artifact = await readHome(home, { registry });
      const image = chooseImage(
        artifactImages(artifact),
        opts.platform,
        `${location}: an SBOM describes one image`,
      );
      if (opts.attach) {
        const reports = await attachSboms(
          home,
          { kind: "image", image },
          { registry, facts: new ImageFacts({ cacheRoot: cacheRoot(opts.cacheDir) }) },
        );
        for (const r of reports)
          out().line(`attached ${r.format} SBOM ${r.digest} to ${r.platform} ${r.subject} (${r.via})`);
        if (key) {
          assertSignable(home);
          for (const a of await attestSboms(home, { kind: "image", image }, reports, key, registry))
            out().line(`attested the ${a.format} SBOM of ${a.subject} (${a.via})`);
        }
        // Attaching is the point; the document itself is written only where -o asks for it.
        if (opts.output === undefined) return;
        return writeFileAtomic(opts.output, reports.find((r) => r.format === opts.format)!.bytes);
      }
      if (opts.attached) {
        const found = await attachedSbom(home, image, opts.format, { registry });
        const wrong =
          found && (await attachedSbomDisagreement(image, found.bytes, opts.format, homeText(home)));
        if (found !== undefined && wrong)
          out().line(
            `warning: the ${opts.format} SBOM attached to ${homeText(home)} (${found.digest}) ${wrong}: not used; computed from the image instead`,
          );
        else if (found !== undefined) {
          out().line(`the ${opts.format} SBOM attached to ${homeText(home)} (${found.digest})`);
          return emit(found.bytes, opts.output);
        }
      }
      const facts = new ImageFacts({ cacheRoot: cacheRoot(opts.cacheDir) });
      const sboms = await computeSboms(image, [opts.format], homeText(home), facts);
      await emit(sboms.get(opts.format)!, opts.output);
    });
}
