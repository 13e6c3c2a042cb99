import type { Advisory } from "../advisories/advisory.js";
import { readFeed } from "../advisories/feed.js";
import { type Finding, matchAdvisories, releaseOfPackages } from "../advisories/match.js";
import { SEVERITIES, type Severity, severityRank } from "../advisories/severity.js";
import type { IndexedPackage } from "../fleet/lookups.js";

/**
 * The vulnerabilities of an image's packages, from advisory feeds (Debian's security tracker JSON
 * or OSV) read once when the page or `strata ps` starts. Matching is ws-vuln's (by source package
 * and source version, dpkg order); the release an image is of comes from its base-files, and an
 * image whose release is unknown is matched against every release the feeds name.
 */
export class Vulnerabilities {
  private constructor(
    private readonly advisories: Advisory[],
    /** Where the advisories came from, with the date each feed speaks for. */
    readonly feeds: { location: string; date: string; advisories: number }[],
  ) {}

  static async read(locations: string[]): Promise<Vulnerabilities> {
    const feeds = await Promise.all(locations.map((l) => readFeed(l)));
    return new Vulnerabilities(
      feeds.flatMap((f) => f.advisories),
      feeds.map((f) => ({ location: f.location, date: f.date, advisories: f.advisories.length })),
    );
  }

  static none(): Vulnerabilities {
    return new Vulnerabilities([], []);
  }

  get known(): boolean {
    return this.feeds.length > 0;
  }

  /** The findings for one image's packages, worst first. */
  findings(packages: IndexedPackage[]): Finding[] {
    if (this.advisories.length === 0) return [];
    const release = releaseOfPackages(packages);
    const advisories =
      release === undefined ? this.advisories : this.advisories.filter((a) => a.release === release);
    return matchAdvisories(packages, advisories).sort(
      (a, b) => severityRank(b.severity) - severityRank(a.severity),
    );
  }
}

export type SeverityCounts = Record<Severity, number>;

/** How many findings at each severity, and how many a newer version fixes. */
export function summarize(findings: Finding[]): { bySeverity: SeverityCounts; fixable: number } {
  const bySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as SeverityCounts;
  for (const f of findings) bySeverity[f.severity]++;
  return { bySeverity, fixable: findings.filter((f) => f.status === "fixed").length };
}

/** The worst severity among the findings, or undefined when there are none. */
export function worst(findings: Finding[]): Severity | undefined {
  return findings.reduce<Severity | undefined>(
    (w, f) => (w === undefined || severityRank(f.severity) > severityRank(w) ? f.severity : w),
    undefined,
  );
}
