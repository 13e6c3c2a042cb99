import { StrataError } from "../util/errors.js";
import type { VersionOp } from "./version.js";

/**
 * Relationship fields (Policy 7.1): `,` is AND, `|` is OR, each alternative a package name with an
 * optional architecture qualifier (`:any`, `:native`, `:amd64`), an optional version constraint and,
 * in source-only contexts, arch restrictions `[...]` and build profiles `<...>`, which binary
 * packages do not use and we ignore.
 */
export interface Alternative {
  name: string;
  archQualifier?: string;
  op?: VersionOp;
  version?: string;
}

/** An AND-list of OR-groups. */
export type Relation = Alternative[][];

const ALTERNATIVE_RE =
  /^([a-zA-Z0-9][a-zA-Z0-9+.-]*)(?::([a-zA-Z0-9-]+))?\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)\s*([^)\s]+)\s*\))?\s*(?:\[[^\]]*\])?\s*(?:<[^>]*>\s*)*$/;

export function parseAlternative(text: string): Alternative {
  const m = ALTERNATIVE_RE.exec(text.trim());
  if (!m) throw new StrataError("DEB_INVALID", `cannot parse package relation "${text.trim()}"`);
  const alt: Alternative = { name: m[1] };
  if (m[2]) alt.archQualifier = m[2];
  if (m[3]) {
    // `<` and `>` are obsolete spellings of `<=` and `>=` (Policy 7.1).
    alt.op = m[3] === "<" ? "<=" : m[3] === ">" ? ">=" : (m[3] as VersionOp);
    alt.version = m[4];
  }
  return alt;
}

export function parseRelation(field: string | undefined): Relation {
  if (!field) return [];
  const groups: Relation = [];
  for (const group of field.split(",")) {
    if (group.trim() === "") continue;
    groups.push(group.split("|").map(parseAlternative));
  }
  return groups;
}

export function formatAlternative(alt: Alternative): string {
  const arch = alt.archQualifier ? `:${alt.archQualifier}` : "";
  const ver = alt.op ? ` (${alt.op} ${alt.version})` : "";
  return `${alt.name}${arch}${ver}`;
}
