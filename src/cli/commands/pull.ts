import type { Command } from "commander";
import { artifactDescriptor, artifactImages, imageDescriptor } from "../../oci/image.js";
import { parsePlatform, platformText } from "../../oci/platform.js";
import { parseReference } from "../../oci/reference.js";
import { pullArtifact } from "../../oci/registry/pull.js";
import {
  formatOption,
  type OutputFormat,
  type RegistryFlags,
  registryOptions,
  writeArtifact,
} from "../destination.js";
import type { Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import type { CommonOptions } from "./common.js";

interface PullFlags extends CommonOptions, RegistryFlags {
  output: string;
  format: OutputFormat;
  platform?: string;
  force?: boolean;
  json?: boolean;
}

export function registerPull(program: Command, out: () => Output): void {
  withRegistryFlags(
    program
      .command("pull")
      .description("pull an image or index from a registry into an OCI layout (every blob verified)")
      .argument("<ref>", "source, e.g. registry.example:5000/team/app:1.0")
      .requiredOption("-o, --output <path>", "where to write it")
      .addOption(formatOption())
      .option(
        "--platform <platform>",
        "for docker-archive: the image to take from an index (linux/arm64, arm64)",
      )
      .option("--force", "replace an existing output (only once the new one is complete)")
      .option("--json", "print what was pulled (digests, platforms, output) as JSON on stdout"),
  ).action(async (refText: string, opts: PullFlags) => {
    const ref = parseReference(refText);
    if (opts.platform !== undefined) parsePlatform(opts.platform);
    const artifact = await pullArtifact(ref, registryOptions(opts));
    const tag = ref.tag ?? "latest";
    await writeArtifact(opts.output, artifact, {
      format: opts.format,
      force: opts.force,
      refName: tag,
      archiveName: `${ref.registry}/${ref.repository}:${tag}`,
      platform: opts.platform,
    });
    const { digest, mediaType } = artifactDescriptor(artifact);
    out().line(`pulled ${refText} (${digest}) into ${opts.output}`);
    if (opts.json) {
      const images = artifactImages(artifact).map((image) => ({
        digest: imageDescriptor(image).digest,
        platform: platformText(image),
        layers: image.manifest.layers.length,
      }));
      const report = {
        reference: refText,
        digest,
        mediaType,
        output: opts.output,
        format: opts.format,
        images,
      };
      process.stdout.write(`${JSON.stringify(report)}\n`);
    }
  });
}
