/**
 * The webhook's Prometheus metrics, in the text exposition format (version 0.0.4): decisions by
 * outcome and the latency of /validate as a histogram.
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

  text(): string {
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
    ];
    return `${lines.join("\n")}\n`;
  }
}
