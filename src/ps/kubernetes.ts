import { StrataError } from "../util/errors.js";
import { isJsonObject, type Json } from "../util/json.js";
import { digestIn, type RunningContainer, textField } from "./container.js";

/**
 * The running containers of a pod list, as `kubectl get pods -A -o json` prints it: every pod's
 * containerStatuses (and init and ephemeral ones) whose state is running, with the imageID the
 * kubelet reports.
 */

/** A pod list of a large cluster is some tens of MB; more is not one. */
export const MAX_POD_LIST_BYTES = 256 * 2 ** 20;

function badList(where: string, why: string): StrataError {
  return new StrataError("USAGE", `${where}: ${why}`, {
    hint: "give the output of kubectl get pods -A -o json (a List of Pods)",
  });
}

function statusesOf(pod: Json): unknown[] {
  const status = isJsonObject(pod.status) ? pod.status : {};
  return ["initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"].flatMap((k) =>
    Array.isArray(status[k]) ? (status[k] as unknown[]) : [],
  );
}

function containerOf(namespace: string, pod: string, s: unknown): RunningContainer | undefined {
  if (!isJsonObject(s) || !isJsonObject(s.state) || !isJsonObject(s.state.running)) return undefined;
  const name = textField(s.name, 253);
  if (name === undefined) return undefined;
  const digest = digestIn(s.imageID);
  return {
    runtime: "kubernetes",
    id: `${namespace}/${pod}/${name}`,
    name: `${namespace}/${pod}/${name}`,
    image: textField(s.image) ?? "",
    imageDigests: digest === undefined ? [] : [digest],
    diffIds: [],
  };
}

/** The running containers of a pod list (JSON text). */
export function podListContainers(text: string, where: string): RunningContainer[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw badList(where, `not JSON (${(err as Error).message.slice(0, 120)})`);
  }
  if (!isJsonObject(json) || !Array.isArray(json.items))
    throw badList(where, "not a list of pods (no items)");
  const out: RunningContainer[] = [];
  for (const pod of json.items) {
    if (!isJsonObject(pod) || !isJsonObject(pod.metadata)) throw badList(where, "an item is not a pod");
    const namespace = textField(pod.metadata.namespace, 253) ?? "default";
    const name = textField(pod.metadata.name, 253);
    if (name === undefined) throw badList(where, "a pod has no valid name");
    for (const s of statusesOf(pod)) {
      const c = containerOf(namespace, name, s);
      if (c) out.push(c);
    }
  }
  return out;
}
