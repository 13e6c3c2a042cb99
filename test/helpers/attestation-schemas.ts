import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";

/**
 * The in-toto Statement v1 and SLSA provenance v1 schemas vendored in schemas/ (see its README for
 * their sources), compiled with ajv: the statement's, and the predicate's.
 */

type Validate = ((doc: unknown) => boolean) & { errors?: unknown };

function compiled(file: string): (doc: unknown) => unknown {
  let validate: Validate | undefined;
  return (doc) => {
    if (validate === undefined) {
      const ajv = new Ajv({ strict: false, allErrors: true });
      addFormats.default(ajv);
      validate = ajv.compile(
        JSON.parse(readFileSync(new URL(`../../schemas/${file}`, import.meta.url), "utf8")),
      );
    }
    return validate(doc) ? null : validate.errors;
  };
}

/** The schema errors of an in-toto statement, or null when it is valid. */
export const statementErrors = compiled("in-toto-statement-v1.schema.json");
/** The schema errors of an SLSA v1 provenance predicate, or null when it is valid. */
export const provenanceErrors = compiled("slsa-provenance-v1.schema.json");
