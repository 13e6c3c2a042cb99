import { type Artifact, artifactDescriptor, artifactImages, imageDescriptor } from "../../oci/image.js";
import { type ImageLocation, outputLocation, referenceLocation } from "../../oci/locations/name.js";
import { parsePlatform, platformText } from "../../oci/platform.js";
import { pullTo } from "../../pipeline/pull-to.js";
import type { CommandDef } from "../command.js";
import {
  formatOption,
  type OutputFormat,
  type PushFlags,
  pushPrinter,
  registryOptions,
  tagOption,
} from "../destination.js";
import type { Output, Progress } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import type { CommonOptions } from "./common.js";

interface PullFlags extends CommonOptions, PushFlags {
  output: string;
  format?: OutputFormat;
  platform?: string;
  tag?: string;
  force?: boolean;
  json?: boolean;
}

/** What --json prints of a pull: the artifact's digest, each image's, and where it went. */
function pullReport(refText: string, artifact: Artifact, destination: ImageLocation, output: string) {
  const { digest, mediaType } = artifactDescriptor(artifact);
  const images = artifactImages(artifact).map((image) => ({
    digest: imageDescriptor(image).digest,
    platform: platformText(image),
    layers: image.manifest.layers.length,
  }));
  const format = destination.transport === "docker" ? "registry" : destination.transport;
  return { reference: refText, digest, mediaType, output, format, images };
}

async function pull([refText]: [string], opts: PullFlags, out: Output): Promise<void> {
  const source = referenceLocation(refText);
  const destination = outputLocation(opts.output, opts.format);
  if (opts.platform !== undefined) parsePlatform(opts.platform);
  let progress: Progress | undefined;
  const push = pushPrinter(out);
  const watcher = {
    ...push,
    onLayers: (count: number) => {
      progress = out.progress("pull", count);
    },
    onLayerRead: (digest: string) => progress?.tick(digest.slice(7, 19)),
  };
  const request = { ...opts, source, destination, registry: registryOptions(opts) };
  const { artifact, names } = await pullTo(request, watcher).finally(() => {
    progress?.stop();
    push.stop();
  });
  const held = destination.transport === "oci" ? ` as ${destination.tag ?? names.refName}` : "";
  out.line(`pulled ${refText} (${artifactDescriptor(artifact).digest}) into ${opts.output}${held}`);
  if (opts.json) out.json(pullReport(refText, artifact, destination, opts.output));
}

export const command: CommandDef<PullFlags, [string]> = {
  name: "pull",
  summary:
    "pull an image or index from a registry (or any image location) into an OCI layout or archive (every blob verified)",
  arguments: [
    {
      name: "<ref>",
      description:
        "source, e.g. registry.example:5000/team/app:1.0, or oci:DIR, oci-archive:FILE, docker-archive:FILE",
    },
  ],
  options: (cmd) =>
    withRegistryFlags(
      cmd
        .requiredOption(
          "-o, --output <path>",
          "where to write it: a path, oci:DIR[:TAG], oci-archive:FILE ...",
        )
        .addOption(formatOption())
        .addOption(tagOption())
        .option(
          "--platform <platform>",
          "for docker-archive: the image to take from an index (linux/arm64, arm64)",
        )
        .option("--force", "replace an existing output (only once the new one is complete)")
        .option("--json", "print what was pulled (digests, platforms, output) as JSON on stdout"),
    ),
  examples: [
    "strata pull reg.example/team/app:2 -o /tmp/app      # umoci unpack --image /tmp/app:latest",
    "strata pull reg.example/team/app:2 -o docker-archive:app.tar --platform arm64",
  ],
  handler: pull,
};
