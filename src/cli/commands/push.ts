import type { Command } from "commander";
import { type PushFlags, pushWithReport, readArtifact } from "../destination.js";
import { examples } from "../help.js";
import type { Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import type { CommonOptions } from "./common.js";
import { workerCount } from "./common.js";

export function registerPush(program: Command, out: () => Output): void {
  withRegistryFlags(
    program
      .command("push")
      .description("push an image or index (from any home: a layout, an archive, a registry) to a registry")
      .argument(
        "<source>",
        "an OCI layout directory or archive file, or oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], docker://REF",
      )
      .argument("<ref>", "destination, e.g. registry.example:5000/team/app:1.0 (or any image location)")
      .option("--tag <tag>", "which tag of the layout to push (default: its only one)")
      .option("-j, --jobs <n>", "parallel blob uploads", workerCount, 4)
      .option("--json", "print the push report as JSON on stdout"),
  )
    .addHelpText("after", examples("strata push out/app reg.example/team/app:1"))
    .action(async (source: string, ref: string, opts: CommonOptions & PushFlags & { tag?: string }) => {
      const artifact = await readArtifact(source, opts);
      await pushWithReport(artifact, ref, opts, out());
    });
}
