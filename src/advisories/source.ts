import type { Db } from "../fleet/db.js";
import type { Advisory } from "./advisory.js";
import type { Available } from "./match.js";
import { advisoriesFor, storedVersions } from "./store.js";

/** Where a scan or a decision gets its advisories, and the versions the repositories offer. */
export interface AdvisorySource {
  advisories(release: string, sources: string[]): Promise<Advisory[]>;
  available(names: string[]): Promise<Map<string, Available>>;
}

/** Advisories held in memory (feeds read from files or URLs for this run). */
export function memoryAdvisories(list: Advisory[]): AdvisorySource {
  return {
    advisories: async (release, sources) => {
      const wanted = new Set(sources);
      return list.filter((a) => a.release === release && wanted.has(a.source));
    },
    available: async () => new Map(),
  };
}

/** Advisories and repository versions stored in the fleet index. */
export function indexAdvisories(db: Db): AdvisorySource {
  return {
    advisories: (release, sources) => advisoriesFor(db, release, sources),
    available: (names) => storedVersions(db, names),
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
  };
}
