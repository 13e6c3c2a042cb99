import type { CacheCounts } from "../util/bounded-cache.js";
import type { FactsCounts } from "./image-facts.js";

/**
 * The webhook's Prometheus metrics, in the text exposition format (version 0.0.4): decisions by
 * outcome, the latency of /validate as a histogram, and what the decider's caches did.
 */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type Outcome = "allowed" | "denied" | "warned" | "failed-open" | "failed-closed" | "malformed";

export class Metrics {
  private readonly decisions = new Map<Outcome, number>();
  private readonly buckets = BUCKETS.map(() => 0);
  private count = 0;
  private sum = 0;

  record(outcome: Outcome, seconds: number): void {
    this.decisions.set(outcome, (this.decisions.get(outcome) ?? 0) + 1);
    this.count++;
    this.sum += seconds;
    for (const [i, bound] of BUCKETS.entries()) if (seconds <= bound) this.buckets[i]++;
  }

  text(caches?: { facts: FactsCounts; decisions: CacheCounts }): string {
    const lines = [
      "# HELP strata_admission_decisions_total Admission reviews answered, by outcome.",
      "# TYPE strata_admission_decisions_total counter",
      ...[...this.decisions].map(
        ([outcome, n]) => `strata_admission_decisions_total{outcome="${outcome}"} ${n}`,
      ),
      "# HELP strata_admission_review_seconds Time to answer an admission review.",
      "# TYPE strata_admission_review_seconds histogram",
      ...BUCKETS.map((b, i) => `strata_admission_review_seconds_bucket{le="${b}"} ${this.buckets[i]}`),
      `strata_admission_review_seconds_bucket{le="+Inf"} ${this.count}`,
      `strata_admission_review_seconds_sum ${this.sum}`,
      `strata_admission_review_seconds_count ${this.count}`,
      ...(caches ? cacheLines(caches) : []),
    ];
    return `${lines.join("\n")}\n`;
  }
}

function counter(name: string, help: string, value: number, type = "counter"): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`];
}

/** Evaluations (one index read each: a first sight, or the first after the index changed) and reuse. */
function cacheLines({ facts, decisions }: { facts: FactsCounts; decisions: CacheCounts }): string[] {
  return [
    ...counter(
      "strata_admission_evaluations_total",
      "Images whose facts were read from the index and matched against its advisories.",
      facts.evaluations,
    ),
    ...counter("strata_admission_facts_hits_total", "Images decided from facts kept in memory.", facts.hits),
    ...counter(
      "strata_admission_facts_evictions_total",
      "Facts dropped to keep the cache within its bound.",
      facts.evictions,
    ),
    ...counter("strata_admission_facts_entries", "Images whose facts are kept.", facts.entries, "gauge"),
    ...counter("strata_admission_decision_hits_total", "Decisions reused.", decisions.hits),
  ];
}
