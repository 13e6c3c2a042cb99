import { parseStanza } from "./deb822.js";
import { type Alternative, parseAlternative, parseRelation, type Relation } from "./relations.js";

/** Where a package record came from: repository URL, suite, component. */
export interface PackageOrigin {
  url: string;
  suite: string;
  component: string;
}

/** One binary package version as a Packages index describes it. */
export interface PackageRecord {
  name: string;
  version: string;
  architecture: string;
  multiArch?: string;
  source: string;
  sourceVersion: string;
  depends: Relation;
  preDepends: Relation;
  provides: Alternative[];
  conflicts: Relation;
  breaks: Relation;
  replaces: Relation;
  essential: boolean;
  priority?: string;
  filename: string;
  size: number;
  sha256: string;
  origin: PackageOrigin;
}

export function packageFromStanza(text: string, origin: PackageOrigin): PackageRecord {
  const f = parseStanza(text);
  const name = f.get("Package") ?? "";
  const version = f.get("Version") ?? "";
  // "Source: name (version)" when the source version differs from the binary's.
  const sourceField = f.get("Source") ?? name;
  const m = /^(\S+)(?:\s+\((\S+)\))?/.exec(sourceField);
  return {
    name,
    version,
    architecture: f.get("Architecture") ?? "",
    multiArch: f.get("Multi-Arch"),
    source: m?.[1] ?? name,
    sourceVersion: m?.[2] ?? version,
    depends: parseRelation(f.get("Depends")),
    preDepends: parseRelation(f.get("Pre-Depends")),
    provides: (f.get("Provides") ?? "")
      .split(",")
      .filter((s) => s.trim() !== "")
      .map(parseAlternative),
    conflicts: parseRelation(f.get("Conflicts")),
    breaks: parseRelation(f.get("Breaks")),
    replaces: parseRelation(f.get("Replaces")),
    essential: (f.get("Essential") ?? "").toLowerCase() === "yes",
    priority: f.get("Priority"),
    filename: f.get("Filename") ?? "",
    size: Number(f.get("Size") ?? 0),
    sha256: f.get("SHA256") ?? "",
    origin,
  };
}
