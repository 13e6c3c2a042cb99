import type { Advisory } from "../advisories/advisory.js";
import { type ReleaseCoverage, releaseCoverage, uncoveredText } from "../advisories/coverage.js";
import { type Finding, matchAdvisories, releaseOfPackages } from "../advisories/match.js";
import { SEVERITIES, type Severity, severityRank } from "../advisories/severity.js";
import type { StoredFeed } from "../advisories/store.js";
import type { FleetIndex } from "../fleet/fleet-index.js";
import type { IndexedPackage } from "../fleet/lookups.js";
import { scanFleet } from "../scan/fleet-scan.js";

/**
 * The vulnerabilities the page and `strata ps` show, from the advisories stored in the index
 * (`strata advisories update`): the same matching as `strata scan --fleet` (by source package and
 * source version in dpkg order, per Debian release from the image's base-files), no image read.
 */
export class Vulnerabilities {
  constructor(private readonly index: FleetIndex) {}

  /** The feeds stored, with the date each speaks for. */
  feeds(): Promise<StoredFeed[]> {
    return this.index.advisories.feeds();
  }

  /** Every indexed image's findings, worst first, and why they are unknown if they are, by manifest digest. */
  async fleet(): Promise<Map<string, { findings: Finding[]; unknown?: string }>> {
    const scans = await scanFleet(this.index, { all: true });
    return new Map(
      scans.map((s) => [s.digest, { findings: worstFirst(s.findings), ...unknownOf(s.coverage) }]),
    );
  }

  /** Why the vulnerabilities of an image with these packages are unknown; undefined when its release is covered. */
  async unknownFor(packages: IndexedPackage[]): Promise<string | undefined> {
    const release = releaseOfPackages(packages);
    if (release === undefined)
      return "vulnerabilities unknown: its Debian release is not known (no base-files)";
    return unknownOf(releaseCoverage(release, await this.index.advisories.coverage(release))).unknown;
  }

  /** The findings for one image's packages, worst first ([] when its release is unknown). */
  async ofPackages(packages: IndexedPackage[]): Promise<Finding[]> {
    return (await this.ofImages([packages]))[0];
  }

  /**
   * The findings for each image's packages, as `ofPackages` finds them, with one read of the
   * advisories per release and one of the versions available for all the images together.
   */
  async ofImages(images: IndexedPackage[][]): Promise<Finding[][]> {
    const installed = images.map((packages) =>
      packages.map((p) => ({
        ...p,
        source: p.source || p.name,
        sourceVersion: p.sourceVersion || p.version,
      })),
    );
    const releases = images.map(releaseOfPackages);
    const source = this.index.advisories;
    const advisories = new Map<string, Advisory[]>();
    for (const release of new Set(releases)) {
      if (release === undefined) continue;
      const sources = installed
        .filter((_, i) => releases[i] === release)
        .flatMap((l) => l.map((p) => p.source));
      advisories.set(release, await source.advisories(release, sources));
    }
    const available = await source.available(installed.flatMap((l) => l.map((p) => p.name)));
    return installed.map((packages, i) => {
      const release = releases[i];
      return release === undefined
        ? []
        : worstFirst(matchAdvisories(packages, advisories.get(release)!, available));
    });
  }
}

function unknownOf(coverage: ReleaseCoverage): { unknown?: string } {
  return coverage.covered ? {} : { unknown: `vulnerabilities unknown: ${uncoveredText(coverage)}` };
}

function worstFirst(findings: Finding[]): Finding[] {
  return [...findings].sort((a, b) => severityRank(b.severity) - severityRank(a.severity));
}

export type SeverityCounts = Record<Severity, number>;

/** How many findings at each severity, and how many a newer version fixes. */
export function summarize(findings: Finding[]): { bySeverity: SeverityCounts; fixable: number } {
  const bySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as SeverityCounts;
  for (const f of findings) bySeverity[f.severity]++;
  return { bySeverity, fixable: findings.filter((f) => f.status === "fixed").length };
}

/** The worst severity among the findings (worst first), or undefined when there are none. */
export function worst(findings: Finding[]): Severity | undefined {
  return findings[0]?.severity;
}
