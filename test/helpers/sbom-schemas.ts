import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Spec, Validation } from "@cyclonedx/cyclonedx-library";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";

/**
 * The official schemas both SBOM formats must satisfy: CycloneDX 1.6 through the CycloneDX
 * library's own JSON validator (ajv with its bundled schemas), SPDX 2.3 with the schema the SPDX
 * project published (schemas/spdx-2.3.schema.json) and ajv; and SPDX's licence expressions, which
 * the schema leaves as strings, through spdx-expression-parse (SPDX's grammar and licence list).
 */

/** spdx-expression-parse (CommonJS, untyped): the parse tree, or a throw on a bad expression. */
const parseSpdxExpression = createRequire(import.meta.url)("spdx-expression-parse") as (e: string) => unknown;

interface LicensedDoc {
  packages?: { name: string; licenseDeclared?: string }[];
  hasExtractedLicensingInfos?: { licenseId: string }[];
}

/**
 * Licence errors of an SPDX document: a `licenseDeclared` that is not NOASSERTION nor a valid
 * expression, a `LicenseRef-` it uses that the document does not extract, one extracted and unused.
 */
function spdxLicenceErrors(doc: LicensedDoc): string[] {
  const errors: string[] = [];
  const used = new Set<string>();
  for (const p of doc.packages ?? []) {
    const declared = p.licenseDeclared ?? "NOASSERTION";
    if (declared === "NOASSERTION" || declared === "NONE") continue;
    try {
      parseSpdxExpression(declared);
    } catch (err) {
      errors.push(`${p.name}: licenseDeclared ${JSON.stringify(declared)}: ${(err as Error).message}`);
    }
    for (const ref of declared.match(/LicenseRef-[A-Za-z0-9.-]+/g) ?? []) used.add(ref);
  }
  const extracted = new Set((doc.hasExtractedLicensingInfos ?? []).map((e) => e.licenseId));
  for (const ref of used) if (!extracted.has(ref)) errors.push(`${ref} is used but not extracted`);
  for (const ref of extracted) if (!used.has(ref)) errors.push(`${ref} is extracted but not used`);
  return errors;
}

const SPDX_SCHEMA = new URL("../../schemas/spdx-2.3.schema.json", import.meta.url);

let spdxValidate: (((doc: unknown) => boolean) & { errors?: unknown }) | undefined;

/** The schema errors of an SPDX 2.3 document, or null when it is valid. */
export function spdxErrors(doc: unknown): unknown {
  if (spdxValidate === undefined) {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats.default(ajv);
    spdxValidate = ajv.compile(JSON.parse(readFileSync(SPDX_SCHEMA, "utf8")));
  }
  if (!spdxValidate(doc)) return spdxValidate.errors;
  const licenceErrors = spdxLicenceErrors(doc as LicensedDoc);
  return licenceErrors.length === 0 ? null : licenceErrors;
}

/** The schema errors of a CycloneDX 1.6 JSON text, or null when it is valid. */
export async function cyclonedxErrors(text: string): Promise<unknown> {
  return new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(text);
}
