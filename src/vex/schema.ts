import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import schema from "./openvex-0.2.0.schema.json" with { type: "json" };

/**
 * OpenVEX's published JSON schema, v0.2.0 (openvex_json_schema.json of https://github.com/openvex/spec
 * at a68ccd19b15a9604d28ef66ebf33f27a772ba4ec, unchanged; draft 2020-12), compiled once when first
 * needed: every document strata writes or reads is checked against it.
 */

/**
 * RFC 3987's absolute IRI: a scheme, then no space, control or excluded character. Not ajv's
 * draft-2019 "iri" check, which also wants an IANA-registered scheme: purls' `pkg:` is not one,
 * and purls are what OpenVEX documents name products by.
 */
const ABSOLUTE_IRI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>"{}|\\^`\x00-\x1f\x7f]+$/u;

let validate: ValidateFunction | undefined;

/** The first few schema errors of `doc`, one line, or undefined when it is a valid OpenVEX document. */
export function openVexSchemaErrors(doc: unknown): string | undefined {
  if (validate === undefined) {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addFormat("iri", ABSOLUTE_IRI);
    validate = ajv.compile(schema);
  }
  if (validate(doc)) return undefined;
  return (validate.errors ?? [])
    .slice(0, 3)
    .map((e) => `${e.instancePath || "/"} ${e.message ?? "is not valid"}`)
    .join("; ");
}
