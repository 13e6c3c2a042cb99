import { packageUrl } from "../sbom/purl.js";
import { StrataError } from "../util/errors.js";
import { readRegularFile } from "../util/fs.js";
import { MAX_VEX_BYTES, type VexJustification, type VexStatus } from "./document.js";
import { openVexSchemaErrors } from "./schema.js";

/**
 * OpenVEX documents from outside (files, attached artifacts) made into claims scan and check can
 * apply: bounded, checked against OpenVEX's schema, every product named by a purl that parses.
 */

export interface Purl {
  type: string;
  namespace?: string;
  name: string;
  version?: string;
  qualifiers: Record<string, string>;
}

/** A statement that a vulnerability does not threaten products or their subcomponents, and who says so. */
export interface VexClaim {
  /** The vulnerability's name and aliases. */
  ids: string[];
  status: "not_affected" | "fixed";
  justification?: VexJustification;
  products: { purl: Purl; subcomponents: Purl[] }[];
  /** The file it came from, or "attached sha256:..." */
  source: string;
}

function invalid(source: string, why: string): StrataError {
  return new StrataError("VEX_INVALID", `${source}: ${why}`, {
    hint: "give an OpenVEX v0.2.0 JSON document whose products are purls (README: VEX)",
  });
}

function purlOf(id: string | undefined, source: string): Purl {
  if (id === undefined) throw invalid(source, "a product or subcomponent has no @id or identifiers.purl");
  try {
    const p = packageUrl().PackageURL.fromString(id);
    const qualifiers = Object.fromEntries(Object.entries(p.qualifiers ?? {}).map(([k, v]) => [k, String(v)]));
    return {
      type: p.type,
      namespace: p.namespace ?? undefined,
      name: p.name,
      version: p.version ?? undefined,
      qualifiers,
    };
  } catch {
    throw invalid(source, `${JSON.stringify(id.slice(0, 120))} is not a purl`);
  }
}

/** A statement as OpenVEX lets others write it: products by `@id` or `identifiers.purl`. */
interface Component {
  "@id"?: string;
  identifiers?: { purl?: string };
}
interface ReadStatement {
  vulnerability: { name: string; aliases?: string[] };
  products?: (Component & { subcomponents?: Component[] })[];
  status: VexStatus;
  justification?: VexJustification;
}

const idOf = (c: Component) => c.identifiers?.purl ?? c["@id"];

function claimOf(s: ReadStatement, source: string): VexClaim | undefined {
  if (s.status !== "not_affected" && s.status !== "fixed") return undefined;
  const products = (s.products ?? []).map((p) => ({
    purl: purlOf(idOf(p), source),
    subcomponents: (p.subcomponents ?? []).map((c) => purlOf(idOf(c), source)),
  }));
  const claim: VexClaim = {
    ids: [s.vulnerability.name, ...(s.vulnerability.aliases ?? [])],
    status: s.status,
    products,
    source,
  };
  if (s.justification !== undefined) claim.justification = s.justification;
  return claim;
}

/** The claims of one OpenVEX document's bytes; `source` names where they came from in messages. */
export function vexClaims(bytes: Buffer, source: string): VexClaim[] {
  if (bytes.length > MAX_VEX_BYTES)
    throw invalid(source, `${bytes.length} bytes, more than ${MAX_VEX_BYTES}`);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    // Not the parser's message: it quotes the file's first bytes, which need not be fit to print.
    throw invalid(source, "not JSON");
  }
  const errors = openVexSchemaErrors(doc);
  if (errors !== undefined) throw invalid(source, `not an OpenVEX document: ${errors}`);
  return (doc as { statements: ReadStatement[] }).statements.flatMap((s) => claimOf(s, source) ?? []);
}

/** The claims of each VEX file given (`--vex FILE`, repeatable). */
export async function readVexFiles(paths: string[]): Promise<VexClaim[]> {
  const claims: VexClaim[] = [];
  for (const path of paths) {
    const bytes = await readRegularFile(path, MAX_VEX_BYTES).catch((err: Error) => {
      throw new StrataError("VEX_INVALID", `${path}: cannot read the VEX document: ${err.message}`, {
        hint: "give the path of an OpenVEX JSON file (at most 16 MiB)",
      });
    });
    claims.push(...vexClaims(bytes, path));
  }
  return claims;
}
