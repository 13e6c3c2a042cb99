import type { Advisory, AdvisoryOrigin } from "./advisory.js";

/**
 * Whether anything speaks for an image's release: a feed that has the release, or changelog
 * evidence from repositories that include its security suite (evidence without it sees no
 * security fix). Without either, no finding means "no data", never "nothing found".
 */
export interface ReleaseCoverage {
  release: string;
  covered: boolean;
  /** What was consulted for the release, whether it counts or not. */
  sources: Coverage[];
}

export function releaseCoverage(release: string, sources: Coverage[]): ReleaseCoverage {
  const counts = (c: Coverage) => c.kind !== "changelog" || c.suites.includes(`${release}-security`);
  return { release, covered: sources.some(counts), sources };
}

/** "no advisories cover trixie" and what would: one line, for reports, policy messages and the page. */
export function uncoveredText({ release, sources }: ReleaseCoverage): string {
  const partial = sources.filter((s) => s.kind === "changelog").map((s) => s.location);
  const why = partial.length > 0 ? ` (${partial.join(", ")}: no ${release}-security suite)` : "";
  return `no advisories cover ${release}${why}`;
}

/** What to do about a release nothing covers. */
export function coverageHint(release: string): string {
  return `store a feed that has ${release} (strata advisories update --from FEED: the Debian security tracker's JSON, or OSV's Debian feed), or add ${release}-security to the spec given with --spec`;
}

/** What speaks for a release: a feed that has it, or changelog evidence from repositories of it. */
export interface Coverage {
  release: string;
  location: string;
  kind: AdvisoryOrigin;
  /** Changelog evidence: the suites its repositories had (a security suite among them, or not). */
  suites: string[];
}

/** A feed's coverage: every release its advisories name. */
export function feedCoverage(location: string, kind: AdvisoryOrigin, advisories: Advisory[]): Coverage[] {
  return [...new Set(advisories.map((a) => a.release))]
    .sort()
    .map((release) => ({ release, location, kind, suites: [] }));
}

/** The stored feeds and evidence that cover `release`. */
