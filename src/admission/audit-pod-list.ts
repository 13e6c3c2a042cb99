import { withFleetIndex } from "../fleet/with-index.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { loadPolicy } from "../policy/policy.js";
import { MAX_POD_LIST_BYTES } from "../ps/kubernetes.js";
import { StrataError } from "../util/errors.js";
import { readNamedInput } from "../util/fs.js";
import { readVexFiles } from "../vex/read.js";
import { auditPods, type PodAudit } from "./audit.js";
import { ImageDecider } from "./decider.js";
import { parsePodList } from "./pods.js";
import { type RegistryScopeFlags, registryScope } from "./registries.js";

export interface PodListAudit extends RegistryScopeFlags {
  /** `kubectl get pods -A -o json` output: a file, or - for stdin. */
  pods: string;
  policy: string;
  vex?: string[];
  index?: string;
  registry: RegistryClientOptions;
}

async function readPodList(path: string): Promise<unknown> {
  const fail = (why: string) => new StrataError("USAGE", `--pods ${path}: ${why}`);
  const text = (await readNamedInput(path, MAX_POD_LIST_BYTES, fail)).toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    throw new StrataError("USAGE", `--pods ${path}: not JSON`, {
      hint: "give the output of kubectl get pods -A -o json",
    });
  }
}

/** `strata audit`: each running pod of the list decided by the policy as the webhook would today. */
export async function auditPodList(req: PodListAudit): Promise<PodAudit[]> {
  const scope = registryScope(req);
  const policy = await loadPolicy(req.policy);
  const pods = parsePodList(await readPodList(req.pods));
  const vex = await readVexFiles(req.vex ?? []);
  return withFleetIndex(req.index, (index) =>
    auditPods(new ImageDecider({ policy, index, registry: req.registry, scope, vex }), pods),
  );
}
