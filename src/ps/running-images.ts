import { withFleetIndex } from "../fleet/with-index.js";
import { Vulnerabilities } from "../serve/vulnerabilities.js";
import { StrataError } from "../util/errors.js";
import { readNamedInput } from "../util/fs.js";
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
  const fail = (why: string) =>
    new StrataError("USAGE", `${where}: ${why}`, {
      hint: "give --pods a file written by kubectl get pods -A -o json, or - for stdin",
    });
  return (await readNamedInput(source, MAX_POD_LIST_BYTES, fail)).toString("utf8");
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
