import type { Advisory } from "./advisory.js";
import { type Coverage, feedCoverage } from "./coverage.js";
import type { Feed } from "./feed.js";
import type { Available } from "./match.js";

/** Where a scan or a decision gets its advisories, and the versions the repositories offer. */
export interface AdvisorySource {
  advisories(release: string, sources: string[]): Promise<Advisory[]>;
  available(names: string[]): Promise<Map<string, Available>>;
  /** The feeds and evidence that speak for `release`: none means "no data", never "nothing found". */
  coverage(release: string): Promise<Coverage[]>;
}

/** Advisories held in memory (feeds read from files or URLs for this run). */
export function memoryAdvisories(feeds: Feed[]): AdvisorySource {
  const list = feeds.flatMap((f) => f.advisories);
  const covers = feeds.flatMap((f) => feedCoverage(f.location, f.kind, f.advisories));
  return {
    advisories: async (release, sources) => {
      const wanted = new Set(sources);
      return list.filter((a) => a.release === release && wanted.has(a.source));
    },
    available: async () => new Map(),
    coverage: async (release) => covers.filter((c) => c.release === release),
  };
}

/** Several sources as one: every advisory of each, the versions of the later ones winning. */
export function combinedAdvisories(sources: AdvisorySource[]): AdvisorySource {
  return {
    advisories: async (release, names) =>
      (await Promise.all(sources.map((s) => s.advisories(release, names)))).flat(),
    available: async (names) => {
      const out = new Map<string, Available>();
      for (const s of sources) for (const [k, v] of await s.available(names)) out.set(k, v);
      return out;
    },
    coverage: async (release) => (await Promise.all(sources.map((s) => s.coverage(release)))).flat(),
  };
}
