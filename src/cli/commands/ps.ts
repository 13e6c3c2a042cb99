import { createReadStream } from "node:fs";
import type { RunningContainer } from "../../ps/container.js";
import { joinContainers } from "../../ps/join.js";
import { MAX_POD_LIST_BYTES, podListContainers } from "../../ps/kubernetes.js";
import { podmanContainers } from "../../ps/podman.js";
import { vulnerableRuns } from "../../ps/recent-runs.js";
import { psJson, psLines } from "../../ps/report.js";
import { Vulnerabilities } from "../../serve/vulnerabilities.js";
import { StrataError } from "../../util/errors.js";
import type { CommandDef } from "../command.js";
import { type IndexFlags, withIndex, withIndexFlag } from "../index-flags.js";
import type { Output } from "../output.js";

interface PsFlags extends IndexFlags {
  podman?: boolean;
  pods?: string;
  json?: boolean;
}

/** A pod list from a file or stdin ("-"), refused past the bound rather than held whole. */
async function readPodList(source: string): Promise<string> {
  const where = source === "-" ? "stdin" : source;
  const stream = source === "-" ? process.stdin : createReadStream(source);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      size += (chunk as Buffer).length;
      if (size > MAX_POD_LIST_BYTES) {
        throw new StrataError("USAGE", `${where}: more than ${MAX_POD_LIST_BYTES} bytes is not a pod list`, {
          hint: "give the output of kubectl get pods -A -o json",
        });
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined) throw err;
    throw new StrataError("USAGE", `${where}: ${code === "ENOENT" ? "no such file" : code}`, {
      hint: "give --pods a file written by kubectl get pods -A -o json, or - for stdin",
    });
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function containers(flags: PsFlags): Promise<RunningContainer[]> {
  if (flags.podman && flags.pods !== undefined) {
    throw new StrataError("USAGE", "--podman and --pods exclude each other", {
      hint: "run strata ps once per runtime",
    });
  }
  if (flags.pods === undefined) return podmanContainers();
  return podListContainers(await readPodList(flags.pods), flags.pods === "-" ? "stdin" : flags.pods);
}

async function ps(_: [], flags: PsFlags, out: Output): Promise<void> {
  const running = await containers(flags);
  const [reports, runs] = await withIndex(flags, async (index) => {
    const vulnerabilities = new Vulnerabilities(index);
    return [
      await joinContainers(index, vulnerabilities, running),
      await vulnerableRuns(index, vulnerabilities),
    ] as const;
  });
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
