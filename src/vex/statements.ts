import type { Advisory } from "../advisories/advisory.js";
import type { ChangelogEntry } from "../advisories/changelog.js";
import { matchAdvisories } from "../advisories/match.js";
import { compareVersions } from "../debian/version.js";
import type { VexJustification, VexStatement } from "./document.js";

/**
 * What strata can state about an image's vulnerabilities that a scanner matching names and
 * versions cannot: per source package, each CVE its own changelog names at or below the installed
 * version (fixed), each advisory whose fixed version is at or below it (fixed), the tracker's "not
 * affected" and ranges introduced after it (the vulnerable code is not present). Nothing is stated
 * where any advisory still finds the installed version vulnerable: one vulnerable word outweighs.
 */

export interface VexPackage {
  name: string;
  source: string;
  sourceVersion: string;
  version: string;
  /** The package's purl, as the SBOMs write it. */
  purl: string;
}

export interface VexFacts {
  /** The image's purl (`pkg:oci/NAME@sha256:...`), the statements' product. */
  imagePurl: string;
  packages: VexPackage[];
  /** The advisories about the image's release and its sources. */
  advisories: Advisory[];
  /** Each source package's own changelog entries (installedChangelogs). */
  changelogs: Map<string, ChangelogEntry[]>;
}

interface Claim {
  status: "fixed" | "not_affected";
  justification?: VexJustification;
  note: string;
}

interface SourceGroup {
  source: string;
  installed: string;
  purls: string[];
}

function sourceGroups(packages: VexPackage[]): SourceGroup[] {
  const groups = new Map<string, SourceGroup>();
  for (const p of packages) {
    const key = `${p.source}=${p.sourceVersion}`;
    const group = groups.get(key) ?? { source: p.source, installed: p.sourceVersion, purls: [] };
    group.purls.push(p.purl);
    groups.set(key, group);
  }
  return [...groups.values()];
}

/** What the feeds' advisories about one source say of versions at or below the installed one. */
function advisoryClaim(a: Advisory, group: SourceGroup): Claim | undefined {
  const { source, installed } = group;
  if (a.status === "not-affected")
    return {
      status: "not_affected",
      justification: "vulnerable_code_not_present",
      note: `${a.origin}: ${source} in ${a.release} never had the vulnerable code (not affected)`,
    };
  if (a.introducedVersion !== undefined && compareVersions(installed, a.introducedVersion) < 0)
    return {
      status: "not_affected",
      justification: "vulnerable_code_not_present",
      note: `${a.origin}: introduced in ${source} ${a.introducedVersion}, after the installed ${installed}`,
    };
  if (a.status === "fixed" && compareVersions(a.fixedVersion!, installed) <= 0)
    return {
      status: "fixed",
      note: `${a.origin}: fixed in ${source} ${a.fixedVersion}; installed ${installed}`,
    };
  return undefined;
}

/** The CVEs a source's changelog names at or below the installed version, each at its oldest entry. */
function changelogClaims(entries: ChangelogEntry[], group: SourceGroup): Map<string, Claim> {
  const claims = new Map<string, Claim>();
  const upToInstalled = entries
    .filter((e) => compareVersions(e.version, group.installed) <= 0)
    .sort((a, b) => compareVersions(a.version, b.version));
  for (const entry of upToInstalled)
    for (const cve of entry.cves)
      if (!claims.has(cve))
        claims.set(cve, {
          status: "fixed",
          note: `changelog: ${group.source} ${entry.version} names it; installed ${group.installed}`,
        });
  return claims;
}

function claimsOf(group: SourceGroup, facts: VexFacts): Map<string, Claim> {
  const claims = changelogClaims(facts.changelogs.get(group.source) ?? [], group);
  // The feeds' word comes after the changelog's: "not affected" says more than "fixed".
  for (const a of facts.advisories) {
    if (a.source !== group.source) continue;
    const claim = advisoryClaim(a, group);
    if (claim === undefined) continue;
    const held = claims.get(a.id);
    if (held === undefined || (held.status === "fixed" && claim.status === "not_affected"))
      claims.set(a.id, claim);
  }
  return claims;
}

/** The statements strata can justify for the image, one per vulnerability and source package. */
export function vexStatements(facts: VexFacts): VexStatement[] {
  const vulnerable = new Set(
    matchAdvisories(facts.packages, facts.advisories).map((f) => `${f.source}=${f.sourceVersion} ${f.id}`),
  );
  const statements: VexStatement[] = [];
  for (const group of sourceGroups(facts.packages)) {
    for (const [id, claim] of claimsOf(group, facts)) {
      if (vulnerable.has(`${group.source}=${group.installed} ${id}`)) continue;
      const purls = [...new Set(group.purls)].sort();
      const subcomponents = purls.map((purl) => ({ "@id": purl }));
      // Each package is a product too: the fact is about the package at its version wherever it
      // is, and scanners that name the image otherwise (Trivy: by repository) still match it.
      statements.push({
        vulnerability: { name: id },
        products: [{ "@id": facts.imagePurl, subcomponents }, ...subcomponents],
        status: claim.status,
        ...(claim.justification && { justification: claim.justification }),
        status_notes: claim.note,
      });
    }
  }
  return statements;
}
