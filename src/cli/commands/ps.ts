import { psJson, psLines } from "../../ps/report.js";
import { runningImages } from "../../ps/running-images.js";
import type { CommandDef } from "../command.js";
import { type IndexFlags, withIndexFlag } from "../index-flags.js";
import type { Output } from "../output.js";

interface PsFlags extends IndexFlags {
  podman?: boolean;
  pods?: string;
  json?: boolean;
}

async function ps(_: [], flags: PsFlags, out: Output): Promise<void> {
  const { reports, runs } = await runningImages(flags);
  if (flags.json) out.json(psJson(reports, runs), { indent: 2 });
  else process.stdout.write(`${psLines(reports, runs).join("\n")}\n`);
}

export const command: CommandDef<PsFlags, []> = {
  name: "ps",
  summary: "the running containers joined with the fleet index: their packages, and which are vulnerable",
  options: (cmd) =>
    withIndexFlag(
      cmd
        .option("--podman", "the containers podman runs now, as podman is configured here (the default)")
        .option("--pods <file|->", "a pod list: kubectl get pods -A -o json > FILE, or piped with -")
        .option("--json", "print the containers and their images as JSON on stdout"),
    ),
  notes: [
    "",
    "A container's image is found by its manifest digest, its config digest (the image ID) or its",
    "layers' diff_ids. Vulnerabilities come from the advisories in the index (strata advisories update).",
  ].join("\n"),
  examples: ["strata ps", "kubectl get pods -A -o json | strata ps --pods -"],
  handler: ps,
};
