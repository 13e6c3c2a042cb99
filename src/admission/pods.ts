import { parseReference } from "../oci/reference.js";
import { StrataError } from "../util/errors.js";
import { isJsonObject } from "../util/json.js";
import { type PodImage, podImages } from "./review.js";

/**
 * `kubectl get pods -A -o json`: a List (or PodList) of pods. Each container's image is judged by
 * what runs: the status's imageID when it names a digest (a repo digest on containerd and Docker),
 * else the spec's image.
 */

/** A pod's image as its spec names it, and the digest the runtime reports it runs, when it does. */
export interface RunningImage extends PodImage {
  running?: string;
}

export interface RunningPod {
  namespace: string;
  name: string;
  images: RunningImage[];
}

/** "docker-pullable://repo@sha256:…" or "repo@sha256:…" → "repo@sha256:…"; undefined for a bare config digest. */
function runningImage(imageId: unknown, specImage: string): string | undefined {
  if (typeof imageId !== "string") return undefined;
  const id = imageId.replace(/^[a-z-]+:\/\//, "");
  const at = id.indexOf("@sha256:");
  if (at < 0) return undefined;
  const digest = id.slice(at + 1);
  // Where the runtime reports no name, the spec's repository is where the digest lives.
  const name = at > 0 ? id.slice(0, at) : specImage.split("@")[0];
  try {
    const ref = parseReference(`${name}@${digest}`);
    return `${ref.registry}/${ref.repository}@${ref.digest}`;
  } catch {
    return undefined;
  }
}

function statusIds(status: unknown): Map<string, unknown> {
  const ids = new Map<string, unknown>();
  if (!isJsonObject(status)) return ids;
  for (const list of ["initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"]) {
    const entries = status[list];
    if (!Array.isArray(entries)) continue;
    for (const s of entries) if (isJsonObject(s) && typeof s.name === "string") ids.set(s.name, s.imageID);
  }
  return ids;
}

function runningPod(item: unknown, i: number): RunningPod {
  if (!isJsonObject(item) || !isJsonObject(item.metadata)) throw badList(`items[${i}] is not a pod`);
  const { namespace = "default", name = `items[${i}]` } = item.metadata as {
    namespace?: string;
    name?: string;
  };
  const ids = statusIds(item.status);
  const spec = isJsonObject(item.spec) ? item.spec : {};
  const names = new Map<string, string>();
  for (const list of ["initContainers", "containers", "ephemeralContainers"]) {
    const cs = spec[list];
    if (Array.isArray(cs))
      for (const [j, c] of cs.entries()) if (isJsonObject(c)) names.set(`${list}[${j}]`, String(c.name));
  }
  const images = podImages("Pod", item).map((image) => {
    const running = runningImage(ids.get(names.get(image.container) ?? ""), image.image);
    return running ? { ...image, running } : image;
  });
  return { namespace: String(namespace), name: String(name), images };
}

function badList(why: string): StrataError {
  return new StrataError("USAGE", `pod list: ${why}`, {
    hint: "give the output of kubectl get pods -A -o json",
  });
}

export function parsePodList(json: unknown): RunningPod[] {
  if (!isJsonObject(json) || !Array.isArray(json.items))
    throw badList("no items (is it kubectl get pods -o json?)");
  return json.items.map(runningPod);
}
