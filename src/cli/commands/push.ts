import { locationText } from "../../oci/locations/name.js";
import { pushFrom } from "../../pipeline/deliver.js";
import type { CommandDef } from "../command.js";
import { type PushFlags, pushPrinter, registryOptions } from "../destination.js";
import type { Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import type { CommonOptions } from "./common.js";
import { workerCount } from "./common.js";

type PushCommandFlags = CommonOptions & PushFlags & { tag?: string };

async function push([source, ref]: [string, string], opts: PushCommandFlags, out: Output): Promise<void> {
  const printer = pushPrinter(out);
  const delivery = { ...printer, tag: opts.tag, registry: registryOptions(opts), jobs: opts.jobs };
  const { location, report } = await pushFrom(source, ref, delivery).finally(() => printer.stop());
  if (report && opts.json) out.json(report);
  if (location.transport !== "docker") out.line(`wrote ${locationText(location)}`);
}

export const command: CommandDef<PushCommandFlags, [string, string]> = {
  name: "push",
  summary: "push an image or index (from any image location: a layout, an archive, a registry) to a registry",
  arguments: [
    {
      name: "<source>",
      description:
        "an OCI layout directory or archive file, or oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG], docker://REF",
    },
    {
      name: "<ref>",
      description: "destination, e.g. registry.example:5000/team/app:1.0 (or any image location)",
    },
  ],
  options: (cmd) =>
    withRegistryFlags(
      cmd
        .option("--tag <tag>", "which tag of the layout to push (default: its only one)")
        .option("-j, --jobs <n>", "parallel blob uploads", workerCount, 4)
        .option("--json", "print the push report as JSON on stdout"),
    ),
  examples: ["strata push out/app reg.example/team/app:1"],
  handler: push,
};
