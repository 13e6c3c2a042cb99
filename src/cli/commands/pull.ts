import type { Command } from "commander";
import {
  type Artifact,
  artifactDescriptor,
  artifactImages,
  type Image,
  imageDescriptor,
} from "../../oci/image.js";
import { chooseImage, parsePlatform, platformText } from "../../oci/platform.js";
import { parseReference } from "../../oci/reference.js";
import { pullArtifact } from "../../oci/registry/pull.js";
import {
  formatOption,
  type OutputFormat,
  type RegistryFlags,
  registryOptions,
  writeArtifact,
} from "../destination.js";
import type { Output, Progress } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import type { CommonOptions } from "./common.js";

interface PullFlags extends CommonOptions, RegistryFlags {
  output: string;
  format: OutputFormat;
  platform?: string;
  force?: boolean;
  json?: boolean;
}

/** The artifact with each layer ticking `progress` when it has been read to its end (layers stream while written). */
function withLayerProgress(artifact: Artifact, progress: Progress): Artifact {
  const watch = (image: Image): Image => ({
    ...image,
    blobs: {
      open: async (digest) => {
        const stream = await image.blobs.open(digest);
        stream.once("end", () => progress.tick(digest.slice(7, 19)));
        return stream;
      },
    },
  });
  if (artifact.kind === "image") return { kind: "image", image: watch(artifact.image) };
  return { kind: "index", index: { ...artifact.index, images: artifact.index.images.map(watch) } };
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
    const images = artifactImages(artifact);
    const written =
      opts.format === "docker-archive"
        ? [chooseImage(images, opts.platform, "a docker-archive holds one image")]
        : images;
    const layers = new Set(written.flatMap((i) => i.manifest.layers.map((l) => l.digest)));
    const progress = out().progress("pull", layers.size);
    await writeArtifact(opts.output, withLayerProgress(artifact, progress), {
      format: opts.format,
      force: opts.force,
      refName: tag,
      archiveName: `${ref.registry}/${ref.repository}:${tag}`,
      platform: opts.platform,
    }).finally(() => progress.stop());
    const { digest, mediaType } = artifactDescriptor(artifact);
    out().line(`pulled ${refText} (${digest}) into ${opts.output}`);
    if (opts.json) {
      const pulled = images.map((image) => ({
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
        images: pulled,
      };
      process.stdout.write(`${JSON.stringify(report)}\n`);
    }
  });
}
