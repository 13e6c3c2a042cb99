import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";

/**
 * The Kubernetes batch/v1 OpenAPI schemas (schemas/kubernetes-batch-v1-openapi-subset.json, vendored
 * with its source commit), compiled with ajv. Unknown fields are refused, as the API server's strict
 * field validation (kubectl's default) refuses them.
 */

const SCHEMA = new URL("../../schemas/kubernetes-batch-v1-openapi-subset.json", import.meta.url);
type Node = Record<string, unknown>;

/** Marks every object schema that lists its properties as closed. */
function strict(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) strict(item);
    return;
  }
  if (node === null || typeof node !== "object") return;
  const o = node as Node;
  if (o.properties !== undefined && o.additionalProperties === undefined) o.additionalProperties = false;
  for (const value of Object.values(o)) strict(value);
}

export function kubernetesValidator(kind: "Job" | "CronJob") {
  const doc = JSON.parse(readFileSync(SCHEMA, "utf8")) as { components: { schemas: Node } };
  strict(doc.components.schemas);
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema({ components: doc.components }, "k8s");
  return ajv.getSchema(`k8s#/components/schemas/io.k8s.api.batch.v1.${kind}`)!;
}
