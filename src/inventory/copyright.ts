import { parseStanzas } from "../debian/deb822.js";
import { sha256Hex } from "../util/hash.js";
import { lazyModule } from "../util/lazy.js";

/** The SPDX licence list (a large module): loaded when a copyright file is read, which a warm build never does. */
const spdx = lazyModule<typeof import("@cyclonedx/cyclonedx-library/SPDX")>(
  "@cyclonedx/cyclonedx-library/SPDX",
);

/**
 * The licences a machine-readable Debian copyright file (DEP-5, copyright-format 1.0) declares:
 * the first line of each `License:` field of its `Files` paragraphs and header, in Debian's short
 * names ("GPL-2+", "BSD-3-clause", "Expat"), each distinct name once. Each maps to its SPDX id
 * where it has one; one that has none ("public-domain", "GPL-2 with OpenSSL exception", perl's
 * "REGCOMP") is named by a `LicenseRef-` id made from it, so the SPDX expression still says what the
 * file declares and the document can say which names it found unmapped.
 */

export interface Licence {
  /** An SPDX licence expression made only of valid SPDX ids, when every licence maps to one. */
  expression?: string;
  /** The SPDX expression with a `LicenseRef-` id for each name that has no SPDX id. */
  declared: string;
  /** The licences as the copyright file names them, each once, in the file's order, with the SPDX id of each that has one, else its `LicenseRef-` id. */
  names: { name: string; spdxId?: string; licenseRef?: string }[];
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
    return spdx().fixupSpdxId(`${gnu[1].toUpperCase()}-${version}-${gnu[3] ? "or-later" : "only"}`);
  }
  // "Apache-2" is "Apache-2.0" to SPDX; else a case-insensitive match of a real id.
  return spdx().fixupSpdxId(name) ?? spdx().fixupSpdxId(name.replace(/-(\d+)$/, "-$1.0"));
}

/** Longest name kept whole in a `LicenseRef-` id; longer ones are cut and told apart by a hash. */
const MAX_REF_NAME = 64;

/**
 * The `LicenseRef-` id of a licence name with no SPDX id: the name itself where it is a valid
 * idstring (letters, digits, `.` and `-`) of at most 64 characters, else its characters made safe,
 * cut, and a hash of the whole name, so two names never share an id.
 */
export function licenseRef(name: string): string {
  if (/^[A-Za-z0-9.-]+$/.test(name) && name.length <= MAX_REF_NAME) return `LicenseRef-${name}`;
  const safe = name
    .replace(/[^A-Za-z0-9.-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, MAX_REF_NAME);
  return `LicenseRef-${safe === "" ? "" : `${safe}-`}${sha256Hex(name).slice(0, 12)}`;
}

type Resolve = (name: string) => string | undefined;
/** Only names with an SPDX id (or an expression of ids, as perl's): the strict expression. */
const byId: Resolve = (name) => (/ with /i.test(name) ? undefined : spdxOf(name));
const byIdOrRef: Resolve = (name) => byId(name) ?? licenseRef(name);

/** A Debian licence expression as SPDX: `, and` binds loosest, then `or`, then `and`. */
function spdxExpression(text: string, resolve: Resolve, names?: Set<string>): string | undefined {
  const wrap = (parts: (string | undefined)[], op: string) =>
    parts.some((p) => p === undefined)
      ? undefined
      : parts.length === 1
        ? parts[0]
        : parts.map((p) => (/ (OR|AND) /.test(p!) ? `(${p})` : p)).join(` ${op} `);
  const term = (t: string) => {
    names?.add(t);
    return resolve(t);
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

/**
 * The parts of a `License:` line that must all hold: its `, and` groups, and the terms of a group
 * with no `or`. perl's 223 lines repeat "GPL-1+ or Artistic" in many combinations; as parts, the
 * file's expression says each once.
 */
function conjuncts(line: string): string[] {
  return line.split(/, ?and /i).flatMap((group) => (/ or /i.test(group) ? [group] : group.split(/ and /i)));
}

/** Distinct expressions joined by AND, each in parentheses where it holds an OR. */
function allOf(expressions: (string | undefined)[]): string | undefined {
  const distinct = [...new Set(expressions)];
  if (distinct.includes(undefined)) return undefined;
  return distinct.map((e) => (distinct.length > 1 && / OR /.test(e!) ? `(${e})` : e)).join(" AND ");
}

/** The first line of each `License:` field that declares (the header's and each Files paragraph's). */
function licenceLines(stanzas: Map<string, string>[]): string[] | undefined {
  const lines: string[] = [];
  for (const [i, stanza] of stanzas.entries()) {
    if (i > 0 && !stanza.has("Files")) continue; // a standalone License paragraph only spells one out
    // Runs of blanks folded first (in one linear pass), so no split below can backtrack over them.
    const first = stanza.get("License")?.split("\n")[0].replace(/\s+/g, " ").trim();
    if (!first) continue;
    if (first.length > MAX_LICENCE_LINE) return undefined;
    lines.push(first);
  }
  return lines;
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
  const found = licenceLines(stanzas);
  if (found === undefined || found.length === 0) return undefined;
  // Repeats count once: perl's 223 lines hold a few dozen distinct parts and 19 names.
  const parts = [...new Set(found.flatMap(conjuncts))];
  const names = new Set<string>();
  const strict: (string | undefined)[] = [];
  for (const part of parts) {
    strict.push(spdxExpression(part, byId, names));
    if (names.size > MAX_LICENCES) return undefined;
  }
  const expression = allOf(strict);
  const declared = allOf(parts.map((p) => spdxExpression(p, byIdOrRef)))!;
  const named = [...names].map((name) => {
    const mapped = byId(name); // an id, or an expression of ids (perl's "Perl"), or none
    if (mapped === undefined) return { name, licenseRef: licenseRef(name) };
    return spdx().isSupportedSpdxId(mapped) ? { name, spdxId: mapped } : { name };
  });
  return { ...(expression === undefined ? {} : { expression }), declared, names: named };
}
