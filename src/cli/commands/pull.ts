import type { Command } from "commander";
import { artifactDescriptor } from "../../oci/image.js";
import { parseReference } from "../../oci/reference.js";
import { pullArtifact } from "../../oci/registry/pull.js";
import { type OutputFormat, type RegistryFlags, registryOptions, writeArtifact } from "../destination.js";
import type { Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import type { CommonOptions } from "./common.js";

export function registerPull(program: Command, out: () => Output): void {
  withRegistryFlags(
    program
      .command("pull")
      .description("pull an image or index from a registry into an OCI layout (every blob verified)")
      .argument("<ref>", "source, e.g. registry.example:5000/team/app:1.0")
      .requiredOption("-o, --output <path>", "where to write it")
      .option("--format <format>", "oci (a layout directory), oci-archive or docker-archive", "oci")
      .option("--platform <arch>", "for docker-archive: the architecture to take from an index")
      .option("--force", "replace an existing output"),
  ).action(
    async (
      refText: string,
      opts: CommonOptions &
        RegistryFlags & { output: string; format: OutputFormat; platform?: string; force?: boolean },
    ) => {
      const ref = parseReference(refText);
      const artifact = await pullArtifact(ref, registryOptions(opts));
      await writeArtifact(opts.output, artifact, {
        format: opts.format,
        force: opts.force,
        tag: ref.tag ?? "latest",
        platform: opts.platform,
      });
      out().line(`pulled ${refText} (${artifactDescriptor(artifact).digest}) into ${opts.output}`);
    },
  );
}
