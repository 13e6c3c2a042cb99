import { readFeed } from "../advisories/feed.js";
import { type IndexEvidenceResult, storeIndexEvidence } from "../advisories/index-evidence.js";
import { loadSpec, type Spec } from "../spec/spec.js";
import { withFleetIndex } from "./with-index.js";

export interface AdvisoriesUpdate {
  /** Feeds to store (Debian security tracker JSON or OSV; files or URLs). */
  from?: string[];
  /** A spec whose repositories' changelogs say which indexed packages' newer versions fix what. */
  spec?: string;
  /** Keep only these releases of a feed; one names the release of the spec's repositories too. */
  release?: string[];
  index?: string;
  mirror?: string;
  cacheDir?: string;
}

export interface StoredFeed {
  location: string;
  kind: "tracker" | "osv";
  date: string;
  advisories: number;
}

/** Each step as it is stored, with the index it went to. */
export interface AdvisoriesWatcher {
  onFeed: (feed: StoredFeed, where: string) => void;
  onEvidence: (result: IndexEvidenceResult, spec: Spec, where: string) => void;
}

/** `strata advisories update`: the feeds and the spec's changelog evidence stored in the fleet index. */
export async function updateAdvisories(
  req: AdvisoriesUpdate,
  watch: AdvisoriesWatcher,
): Promise<(StoredFeed | (IndexEvidenceResult & { kind: "changelog" }))[]> {
  const keep = req.release?.length ? (r: string) => req.release!.includes(r) : undefined;
  const spec = req.spec ? await loadSpec(req.spec, { mirror: req.mirror }) : undefined;
  return withFleetIndex(req.index, async (index) => {
    const results: (StoredFeed | (IndexEvidenceResult & { kind: "changelog" }))[] = [];
    for (const location of req.from ?? []) {
      const feed = await readFeed(location, keep);
      await index.advisories.store({ location, kind: feed.kind, date: feed.date }, feed.advisories);
      const stored = { location, kind: feed.kind, date: feed.date, advisories: feed.advisories.length };
      results.push(stored);
      watch.onFeed(stored, index.where);
    }
    if (!spec) return results;
    // The release the repositories hold, when their base-files cannot say: one --release names it.
    const release = req.release?.length === 1 ? req.release[0] : undefined;
    const held = await index.heldPackages();
    const r = await storeIndexEvidence(index.advisories, held, spec, { cacheRoot: req.cacheDir }, release);
    results.push({ ...r, kind: "changelog" });
    watch.onEvidence(r, spec, index.where);
    return results;
  });
}
