import type { Finding } from "../advisories/match.js";
import type { FleetIndex } from "../fleet/fleet-index.js";
import { RECENT_RUNS_MS, type RunRecord } from "../fleet/runs.js";
import type { Vulnerabilities } from "../serve/vulnerabilities.js";

/**
 * Recent `strata run`s whose image is vulnerable now, by today's advisories: a job that ran last
 * week is not running, but what it read and wrote may matter. Each image is judged once, all of them together.
 */

export interface VulnerableRun {
  run: RunRecord;
  findings: Finding[];
}

export async function vulnerableRuns(
  index: FleetIndex,
  vulnerabilities: Vulnerabilities,
  now = Date.now(),
): Promise<VulnerableRun[]> {
  const runs = await index.runs({ since: now - RECENT_RUNS_MS, limit: 1000 });
  const digests = [...new Set(runs.map((r) => r.digest))];
  // All the runs' images at once: their packages in one lookup, then their findings together.
  const images = await index.running(digests.map((digest) => ({ digests: [digest], diffIds: [] })));
  const judged = await vulnerabilities.ofImages(images.map((i) => (i?.by === "manifest" ? i.packages : [])));
  const byDigest = new Map<string, Finding[]>(digests.map((digest, i) => [digest, judged[i]]));
  return runs
    .filter((r) => (byDigest.get(r.digest) ?? []).length > 0)
    .map((run) => ({ run, findings: byDigest.get(run.digest)! }));
}
