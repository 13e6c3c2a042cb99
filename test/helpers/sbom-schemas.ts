import { readFileSync } from "node:fs";
import { Spec, Validation } from "@cyclonedx/cyclonedx-library";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";

/**
 * The official schemas both SBOM formats must satisfy: CycloneDX 1.6 through the CycloneDX
 * library's own JSON validator (ajv with its bundled schemas), SPDX 2.3 with the schema the SPDX
 * project published (schemas/spdx-2.3.schema.json) and ajv.
 */

const SPDX_SCHEMA = new URL("../../schemas/spdx-2.3.schema.json", import.meta.url);

let spdxValidate: (((doc: unknown) => boolean) & { errors?: unknown }) | undefined;

/** The schema errors of an SPDX 2.3 document, or null when it is valid. */
export function spdxErrors(doc: unknown): unknown {
  if (spdxValidate === undefined) {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats.default(ajv);
    spdxValidate = ajv.compile(JSON.parse(readFileSync(SPDX_SCHEMA, "utf8")));
  }
  return spdxValidate(doc) ? null : spdxValidate.errors;
}

/** The schema errors of a CycloneDX 1.6 JSON text, or null when it is valid. */
export async function cyclonedxErrors(text: string): Promise<unknown> {
  return new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(text);
}
