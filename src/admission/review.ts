import { StrataError } from "../util/errors.js";
import { isJsonObject, type Json } from "../util/json.js";

/**
 * admission.k8s.io/v1 AdmissionReview as the API server sends it to a validating webhook, and the
 * answer it expects: the request's uid echoed, allowed or not, a status for a denial, warnings.
 */
export interface ReviewRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  namespace?: string;
  name?: string;
  operation?: string;
  object: unknown;
}

/** One container image a pod (or a pod template) would run. */
export interface PodImage {
  /** "containers[0]", "initContainers[1]", "ephemeralContainers[0]". */
  container: string;
  image: string;
}

export function malformed(why: string): StrataError {
  return new StrataError("USAGE", `malformed AdmissionReview: ${why}`);
}

/** A Kubernetes object name (DNS subdomain); anything else is not shown in a message. */
const OBJECT_NAME = /^[a-z0-9][-a-z0-9.]{0,252}$/;

function nameText(value: unknown): string | undefined {
  return typeof value === "string" && OBJECT_NAME.test(value) ? value : undefined;
}

/**
 * What to call the object in messages: `request.name`, which the API server leaves out on create,
 * else `metadata.name`, else `metadata.generateName` with `*` for the suffix the server will add.
 */
function objectName(requestName: unknown, object: unknown): string | undefined {
  const metadata = isJsonObject(object) && isJsonObject(object.metadata) ? object.metadata : {};
  const generated = nameText(metadata.generateName);
  return nameText(requestName) ?? nameText(metadata.name) ?? (generated && `${generated}*`);
}

/** The request of an AdmissionReview body, checked for what the decision needs. */
export function parseReview(body: unknown): ReviewRequest {
  if (!isJsonObject(body)) throw malformed("not a JSON object");
  if (body.apiVersion !== "admission.k8s.io/v1")
    throw malformed(`apiVersion ${JSON.stringify(body.apiVersion)} is not admission.k8s.io/v1`);
  if (body.kind !== "AdmissionReview")
    throw malformed(`kind ${JSON.stringify(body.kind)} is not AdmissionReview`);
  const request = body.request;
  if (!isJsonObject(request)) throw malformed("no request");
  if (typeof request.uid !== "string" || request.uid.length === 0 || request.uid.length > 128)
    throw malformed("request.uid is not a string");
  const kind = request.kind;
  if (!isJsonObject(kind) || typeof kind.kind !== "string")
    throw malformed("request.kind.kind is not a string");
  return {
    uid: request.uid,
    kind: { group: String(kind.group ?? ""), version: String(kind.version ?? ""), kind: kind.kind },
    namespace: typeof request.namespace === "string" ? request.namespace : undefined,
    name: objectName(request.name, request.object),
    operation: typeof request.operation === "string" ? request.operation : undefined,
    object: request.object,
  };
}

/**
 * Where each workload kind keeps its pod spec. A Map, not an object: a kind from the request
 * (`__proto__`, `constructor`) must never reach a prototype.
 */
const POD_SPEC_PATHS = new Map<string, string[]>([
  ["Pod", ["spec"]],
  ["Deployment", ["spec", "template", "spec"]],
  ["StatefulSet", ["spec", "template", "spec"]],
  ["DaemonSet", ["spec", "template", "spec"]],
  ["ReplicaSet", ["spec", "template", "spec"]],
  ["ReplicationController", ["spec", "template", "spec"]],
  ["Job", ["spec", "template", "spec"]],
  ["CronJob", ["spec", "jobTemplate", "spec", "template", "spec"]],
]);

const CONTAINER_LISTS = ["initContainers", "containers", "ephemeralContainers"] as const;
/** A pod has a few dozen containers at most; more is not a pod. */
const MAX_CONTAINERS = 1000;

/**
 * The images of a pod spec, or of the pod template of a workload. A kind the webhook does not
 * review is refused (400, with the kinds it reviews): the webhook is registered for these only.
 */
export function podImages(kind: string, object: unknown): PodImage[] {
  const path = POD_SPEC_PATHS.get(kind);
  if (path === undefined)
    throw malformed(
      `kind ${JSON.stringify(kind.slice(0, 64))} is not one strata reviews (${[...POD_SPEC_PATHS.keys()].join(", ")})`,
    );
  let spec: unknown = object;
  for (const key of path) spec = isJsonObject(spec) ? spec[key] : undefined;
  if (!isJsonObject(spec)) throw malformed(`${kind} has no pod spec at ${path.join(".")}`);
  const images: PodImage[] = [];
  for (const list of CONTAINER_LISTS) {
    const containers = spec[list];
    if (containers === undefined || containers === null) continue;
    if (!Array.isArray(containers) || containers.length > MAX_CONTAINERS)
      throw malformed(`${list} is not a list of containers`);
    for (const [i, c] of containers.entries()) {
      if (!isJsonObject(c) || typeof c.image !== "string" || c.image.length === 0 || c.image.length > 512)
        throw malformed(`${list}[${i}] has no image`);
      images.push({ container: `${list}[${i}]`, image: c.image });
    }
  }
  return images;
}

export interface ReviewAnswer {
  allowed: boolean;
  message?: string;
  warnings?: string[];
}

/** Kubernetes shows warnings of up to 256 characters; a few are enough to say why. */
const MAX_WARNINGS = 20;
const MAX_WARNING_CHARS = 256;
const MAX_MESSAGE_CHARS = 4096;

export function reviewResponse(uid: string, answer: ReviewAnswer) {
  const response: Json = { uid, allowed: answer.allowed };
  if (!answer.allowed)
    response.status = {
      code: 403,
      reason: "Forbidden",
      message: (answer.message ?? "denied by policy").slice(0, MAX_MESSAGE_CHARS),
    };
  if (answer.warnings?.length)
    response.warnings = answer.warnings.slice(0, MAX_WARNINGS).map((w) => w.slice(0, MAX_WARNING_CHARS));
  return { apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response };
}
