import { createReadStream } from "node:fs";
import { withFleetIndex } from "../fleet/with-index.js";
import { Vulnerabilities } from "../serve/vulnerabilities.js";
import { StrataError } from "../util/errors.js";
import type { RunningContainer } from "./container.js";
import { joinContainers } from "./join.js";
import { MAX_POD_LIST_BYTES, podListContainers } from "./kubernetes.js";
import { podmanContainers } from "./podman.js";
import { vulnerableRuns } from "./recent-runs.js";

/** Where the running containers are read: podman's (the default), or a pod list file or stdin ("-"). */
export interface RunningSources {
  podman?: boolean;
  pods?: string;
  index?: string;
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

async function containers(flags: RunningSources): Promise<RunningContainer[]> {
  if (flags.podman && flags.pods !== undefined) {
    throw new StrataError("USAGE", "--podman and --pods exclude each other", {
      hint: "run strata ps once per runtime",
    });
  }
  if (flags.pods === undefined) return podmanContainers();
  return podListContainers(await readPodList(flags.pods), flags.pods === "-" ? "stdin" : flags.pods);
}

/** `strata ps`: the running containers joined with the index's images and their vulnerabilities, and the vulnerable recent runs. */
export async function runningImages(req: RunningSources) {
  const running = await containers(req);
  return withFleetIndex(req.index, async (index) => {
    const vulnerabilities = new Vulnerabilities(index);
    const reports = await joinContainers(index, vulnerabilities, running);
    return { reports, runs: await vulnerableRuns(index, vulnerabilities) };
  });
}
