import { parseStanzas, type Stanza } from "../debian/deb822.js";
import { parseRelation } from "../debian/relations.js";
import { StrataError } from "../util/errors.js";
import { SHA256_HEX } from "../util/verify.js";

/**
 * The one package model every reader of an image fills in, wherever the facts come from: strata's
 * layer annotations, a `status.d` record, or dpkg's `status` database.
 */
export interface InventoryPackage {
  name: string;
  version: string;
  /** The package's own architecture ("amd64", "all"); absent when only a plain annotation named it. */
  architecture?: string;
  source?: string;
  sourceVersion?: string;
  /** The layer whose record of the package is the one a container sees. */
  layer: { index: number; digest: string };
  /** The `.deb`'s sha256, when an annotation records it. */
  debSha256?: string;
  /**
   * What it needs, as its dpkg record says (Pre-Depends and Depends): an AND-list of groups of
   * alternative package names; absent when only an annotation named the package.
   */
  depends?: string[][];
  /** The virtual packages it provides, by name. */
  provides?: string[];
  from: "annotation" | "status.d" | "status";
}

export type PackageIdentity = Omit<InventoryPackage, "layer" | "from">;

const NAME = /^[a-z0-9][a-z0-9+.-]{0,127}$/;
// deb-version(7): [epoch:]upstream[-revision], upstream starting with a digit.
const VERSION = /^(?:\d{1,9}:)?\d[A-Za-z0-9.+~:-]{0,254}$/;
const ARCH = /^[a-z0-9][a-z0-9-]{0,63}$/;

function invalid(where: string, why: string): StrataError {
  return new StrataError("IO", `${where}: ${why}`, {
    hint: "the image's package records are damaged or crafted; rebuild the image",
  });
}

/** Checks every field before the facts are used: names and versions reach reports and keys. */
export function checkFacts(facts: PackageIdentity, where: string): PackageIdentity {
  const bad = (field: string, value: string) =>
    invalid(where, `${field} ${JSON.stringify(value.slice(0, 80))} is not valid`);
  if (!NAME.test(facts.name)) throw bad("package name", facts.name);
  if (!VERSION.test(facts.version)) throw bad(`${facts.name}: version`, facts.version);
  if (facts.architecture !== undefined && !ARCH.test(facts.architecture))
    throw bad(`${facts.name}: architecture`, facts.architecture);
  if (facts.source !== undefined && !NAME.test(facts.source))
    throw bad(`${facts.name}: source`, facts.source);
  if (facts.sourceVersion !== undefined && !VERSION.test(facts.sourceVersion))
    throw bad(`${facts.name}: source version`, facts.sourceVersion);
  if (facts.debSha256 !== undefined && !SHA256_HEX.test(facts.debSha256))
    throw bad(`${facts.name}: sha256`, facts.debSha256);
  for (const name of [...(facts.depends ?? []).flat(), ...(facts.provides ?? [])])
    if (!NAME.test(name)) throw bad(`${facts.name}: related package`, name);
  return facts;
}

/** The names a stanza's Pre-Depends, Depends and Provides fields hold. */
function relations(stanza: Stanza, where: string): Pick<PackageIdentity, "depends" | "provides"> {
  const field = (name: string) => stanza.get(name)?.replace(/\s+/g, " ");
  try {
    const needs = [field("Pre-Depends"), field("Depends")].filter(Boolean).join(", ");
    return {
      depends: parseRelation(needs).map((group) => group.map((alt) => alt.name)),
      provides: parseRelation(field("Provides")).map(([alt]) => alt.name),
    };
  } catch (err) {
    throw invalid(where, (err as Error).message);
  }
}

/**
 * The installed packages a dpkg record holds (a `status.d` file, or the whole `status` database):
 * stanzas whose Status is not "... installed" (removed, config-files only) are not in the image.
 */
export function packagesFromStatus(text: string, where: string): PackageIdentity[] {
  const out: PackageIdentity[] = [];
  for (const stanza of parseStanzas(text)) {
    const status = stanza.get("Status");
    if (status !== undefined && !/ installed$/.test(status)) continue;
    const name = stanza.get("Package") ?? "";
    const version = stanza.get("Version") ?? "";
    // "Source: name (version)" when the source version differs from the binary's.
    const source = /^(\S+)(?:\s+\((\S+)\))?$/.exec(stanza.get("Source") ?? name);
    if (source === null)
      throw invalid(where, `${name}: Source "${stanza.get("Source")?.slice(0, 80)}" is not valid`);
    const facts: PackageIdentity = { name, version, source: source[1], sourceVersion: source[2] ?? version };
    const architecture = stanza.get("Architecture");
    if (architecture !== undefined) facts.architecture = architecture;
    Object.assign(facts, relations(stanza, `${where}: ${name}`));
    out.push(checkFacts(facts, where));
  }
  return out;
}
