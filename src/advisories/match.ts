import { compareVersions } from "../debian/version.js";
import { type Advisory, type AdvisoryOrigin, DEBIAN_RELEASES } from "./advisory.js";
import { maxSeverity, type Severity } from "./severity.js";

/** What matching needs of an installed package: advisories are about source packages and versions. */
export interface InstalledPackage {
  name: string;
  version: string;
  source: string;
  /** Differs from `version` for binNMUs ("+b1") and binaries versioned apart from their source. */
  sourceVersion: string;
}

/** The newest version of a binary package the repositories offer now, and in which suite. */
export interface Available {
  version: string;
  sourceVersion: string;
  suite: string;
}

/** One vulnerability of one installed package. */
export interface Finding {
  id: string;
  package: string;
  version: string;
  source: string;
  sourceVersion: string;
  severity: Severity;
  /** "fixed": a fixed version exists (fixable); "open" / "undetermined": Debian has none yet. */
  status: "fixed" | "open" | "undetermined";
  fixedVersion?: string;
  /** The suite that offers a version with the fix, when the repositories consulted have one. */
  availableIn?: string;
  /** `strata update` can fix it now: the repositories offer the fixed version or a newer one. */
  updatable: boolean;
  /** The exact command that installs the fix (see scan/fix-hint.ts), when one does. */
  fix?: string;
  noDsa?: string;
  /** When the fix was published, when any evidence says (ISO 8601). */
  fixedSince?: string;
  origins: AdvisoryOrigin[];
}

/** Whether one advisory says `installed` (a source version) is still vulnerable. */
function affects(a: Advisory, installed: string): boolean {
  if (a.status === "not-affected") return false;
  if (a.introducedVersion !== undefined && compareVersions(installed, a.introducedVersion) < 0) return false;
  if (a.status === "fixed") return compareVersions(installed, a.fixedVersion!) < 0;
  return true;
}

/**
 * The finding the advisories about one issue make for one package, or undefined when it is not
 * vulnerable: the tracker's "not affected" or any fixed version at or below the installed one wins.
 */
function findingOf(pkg: InstalledPackage, group: Advisory[], available?: Available): Finding | undefined {
  const installed = pkg.sourceVersion;
  if (group.some((a) => a.status === "not-affected")) return undefined;
  if (group.some((a) => a.status === "fixed" && !affects(a, installed))) return undefined;
  const relevant = group.filter((a) => affects(a, installed));
  if (relevant.length === 0) return undefined;
  const fixes = relevant
    .filter((a) => a.status === "fixed")
    .sort((a, b) => compareVersions(a.fixedVersion!, b.fixedVersion!));
  const severity = relevant.reduce<Severity>((s, a) => maxSeverity(s, a.severity), "unknown");
  const finding: Finding = {
    id: group[0].id,
    package: pkg.name,
    version: pkg.version,
    source: pkg.source,
    sourceVersion: installed,
    severity,
    status: fixes.length > 0 ? "fixed" : relevant.some((a) => a.status === "open") ? "open" : "undetermined",
    updatable: false,
    origins: [...new Set(relevant.map((a) => a.origin))].sort(),
  };
  const noDsa = relevant.find((a) => a.noDsa !== undefined)?.noDsa;
  if (noDsa !== undefined) finding.noDsa = noDsa;
  if (fixes.length === 0) return finding;
  finding.fixedVersion = fixes[0].fixedVersion;
  const since = fixes.map((a) => a.fixedSince).filter((d) => d !== undefined);
  if (since.length > 0) finding.fixedSince = since.sort()[0];
  if (available && compareVersions(available.sourceVersion, finding.fixedVersion!) >= 0) {
    finding.updatable = true;
    finding.availableIn = available.suite;
  } else {
    finding.availableIn = fixes.find((a) => a.availableIn !== undefined)?.availableIn;
  }
  return finding;
}

/** Every finding for the packages, given the advisories about their sources (any release filter applied). */
export function matchAdvisories(
  packages: InstalledPackage[],
  advisories: Advisory[],
  available: Map<string, Available> = new Map(),
): Finding[] {
  const bySource = new Map<string, Map<string, Advisory[]>>();
  for (const a of advisories) {
    let ids = bySource.get(a.source);
    if (!ids) bySource.set(a.source, (ids = new Map()));
    ids.get(a.id)?.push(a) ?? ids.set(a.id, [a]);
  }
  const findings: Finding[] = [];
  for (const pkg of packages) {
    for (const group of bySource.get(pkg.source)?.values() ?? []) {
      const finding = findingOf(pkg, group, available.get(pkg.name));
      if (finding) findings.push(finding);
    }
  }
  return findings.sort((a, b) => a.package.localeCompare(b.package, "en") || a.id.localeCompare(b.id, "en"));
}

/** The Debian release an image is of: base-files' version starts with the release number. */
export function releaseOfPackages(packages: { name: string; version: string }[]): string | undefined {
  const baseFiles = packages.find((p) => p.name === "base-files");
  const major = baseFiles ? /^(\d+)/.exec(baseFiles.version)?.[1] : undefined;
  return major === undefined ? undefined : DEBIAN_RELEASES[major];
}
