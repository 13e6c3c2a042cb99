import { sha256Hex } from "../util/hash.js";

/** OpenVEX v0.2.0 (https://github.com/openvex/spec, OPENVEX-SPEC.md): the parts strata writes and reads. */

export const OPENVEX_CONTEXT = "https://openvex.dev/ns/v0.2.0";
/** The artifactType of an attached OpenVEX document. */
export const VEX_MEDIA_TYPE = "application/openvex+json";
/** The most bytes a VEX document may have, read from a file or a registry. */
export const MAX_VEX_BYTES = 16 << 20;

export type VexStatus = "not_affected" | "affected" | "fixed" | "under_investigation";
export type VexJustification =
  | "component_not_present"
  | "vulnerable_code_not_present"
  | "vulnerable_code_not_in_execute_path"
  | "vulnerable_code_cannot_be_controlled_by_adversary"
  | "inline_mitigations_already_exist";

export interface VexProduct {
  "@id": string;
  subcomponents?: { "@id": string }[];
}

export interface VexStatement {
  vulnerability: { name: string; aliases?: string[] };
  products: VexProduct[];
  status: VexStatus;
  justification?: VexJustification;
  status_notes?: string;
}

export interface VexDocument {
  "@context": string;
  "@id": string;
  author: string;
  timestamp: string;
  version: number;
  tooling?: string;
  statements: VexStatement[];
}

function statementKey(s: VexStatement): string {
  return `${s.vulnerability.name}\u0000${s.products[0]?.["@id"] ?? ""}\u0000${s.status}\u0000${s.status_notes ?? ""}`;
}

/**
 * The document of `statements`, the same bytes for the same facts: statements sorted, the time
 * given (the image's, never the clock's) and the `@id` a hash of the content.
 */
export function vexDocument(statements: VexStatement[], timestamp: string): VexDocument {
  const sorted = [...statements].sort((a, b) => (statementKey(a) < statementKey(b) ? -1 : 1));
  const body = { author: "strata", timestamp, version: 1, tooling: "strata vex", statements: sorted };
  const id = `urn:strata:vex:sha256:${sha256Hex(JSON.stringify(body))}`;
  return { "@context": OPENVEX_CONTEXT, "@id": id, ...body };
}

export function vexBytes(doc: VexDocument): Buffer {
  return Buffer.from(`${JSON.stringify(doc, null, 2)}\n`);
}
