import { fixupSpdxId, isSupportedSpdxId } from "@cyclonedx/cyclonedx-library/SPDX";
import { parseStanzas } from "../debian/deb822.js";

/**
 * The licences a machine-readable Debian copyright file (DEP-5, copyright-format 1.0) declares:
 * the first line of each `License:` field of its `Files` paragraphs and header, in Debian's short
 * names ("GPL-2+", "BSD-3-clause", "Expat"). Where every name maps to a valid SPDX id, they make
 * one SPDX expression; otherwise each name keeps the SPDX id it has, if any (SPDX then says
 * NOASSERTION, CycloneDX lists each licence by id or by name).
 */

export interface Licence {
  /** An SPDX licence expression made only of valid SPDX ids, when every licence maps to one. */
  expression?: string;
  /** The licences as the copyright file names them, each once, in the file's order, with the SPDX id of each that has one. */
  names: { name: string; spdxId?: string }[];
}

const FORMAT = /^https?:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/?$/;
/** More distinct licences than any real package declares; a file past it is not believed. */
const MAX_LICENCES = 256;
/** A longer `License:` line is not a licence expression; it is not believed either. */
const MAX_LICENCE_LINE = 1024;
const GNU_FAMILY = /^(A?GPL|LGPL|GFDL)-(\d+(?:\.\d+)?)(\+)?$/i;
/** Debian's short names that differ from SPDX's (copyright-format 1.0, "License specification"). */
const DEBIAN_NAMES: Record<string, string> = {
  expat: "MIT",
  artistic: "Artistic-1.0",
  perl: "Artistic-1.0-Perl OR GPL-1.0-or-later",
  cc0: "CC0-1.0",
  zlib: "Zlib",
  python: "Python-2.0",
};

/** The SPDX id (or small expression) of one Debian licence name, or undefined. */
function spdxOf(name: string): string | undefined {
  const known = DEBIAN_NAMES[name.toLowerCase()];
  if (known !== undefined) return known;
  const gnu = GNU_FAMILY.exec(name);
  if (gnu !== null) {
    const version = gnu[2].includes(".") ? gnu[2] : `${gnu[2]}.0`;
    return fixupSpdxId(`${gnu[1].toUpperCase()}-${version}-${gnu[3] ? "or-later" : "only"}`);
  }
  // "Apache-2" is "Apache-2.0" to SPDX; else a case-insensitive match of a real id.
  return fixupSpdxId(name) ?? fixupSpdxId(name.replace(/-(\d+)$/, "-$1.0"));
}

/** A Debian licence expression as SPDX: `, and` binds loosest, then `or`, then `and`. */
function spdxExpression(text: string, names: Set<string>): string | undefined {
  const wrap = (parts: (string | undefined)[], op: string) =>
    parts.some((p) => p === undefined)
      ? undefined
      : parts.length === 1
        ? parts[0]
        : parts.map((p) => (/ (OR|AND) /.test(p!) ? `(${p})` : p)).join(` ${op} `);
  const term = (t: string) => {
    names.add(t);
    return / with /i.test(t) ? undefined : spdxOf(t);
  };
  return wrap(
    text.split(/, ?and /i).map((group) =>
      wrap(
        group.split(/ or /i).map((alt) =>
          wrap(
            alt.split(/ and /i).map((t) => term(t.trim())),
            "AND",
          ),
        ),
        "OR",
      ),
    ),
    "AND",
  );
}

/** The licences of a copyright file, or undefined when it is not machine-readable. */
export function copyrightLicence(text: string): Licence | undefined {
  let stanzas: Map<string, string>[];
  try {
    stanzas = parseStanzas(text);
  } catch {
    return undefined;
  }
  if (!FORMAT.test(stanzas[0]?.get("Format")?.trim() ?? "")) return undefined;
  const names = new Set<string>();
  const expressions: (string | undefined)[] = [];
  for (const [i, stanza] of stanzas.entries()) {
    if (i > 0 && !stanza.has("Files")) continue; // a standalone License paragraph only spells one out
    // Runs of blanks folded first (in one linear pass), so no split below can backtrack over them.
    const first = stanza.get("License")?.split("\n")[0].replace(/\s+/g, " ").trim();
    if (!first) continue;
    if (first.length > MAX_LICENCE_LINE) return undefined;
    expressions.push(spdxExpression(first, names));
    if (names.size > MAX_LICENCES) return undefined;
  }
  if (expressions.length === 0) return undefined;
  const distinct = [...new Set(expressions)];
  const expression = distinct.includes(undefined)
    ? undefined
    : distinct.map((e) => (distinct.length > 1 && / OR /.test(e!) ? `(${e})` : e)).join(" AND ");
  const named = [...names].map((name) => {
    const id = / with /i.test(name) ? undefined : spdxOf(name);
    return id !== undefined && isSupportedSpdxId(id) ? { name, spdxId: id } : { name };
  });
  return { ...(expression === undefined ? {} : { expression }), names: named };
}
