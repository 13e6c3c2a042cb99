/**
 * One severity scale for every source of advisories. Debian's tracker and changelogs speak of
 * urgency; "unimportant" is Debian's word for an issue that needs no fix in the release.
 */
export const SEVERITIES = ["unknown", "negligible", "low", "medium", "high", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

export function isSeverity(value: string): value is Severity {
  return (SEVERITIES as readonly string[]).includes(value);
}

/** The higher of two severities. */
export function maxSeverity(a: Severity, b: Severity): Severity {
  return severityRank(a) >= severityRank(b) ? a : b;
}

/**
 * A tracker or changelog urgency as a severity. The tracker marks unconfirmed urgencies with "*"
 * ("low*"), and says "not yet assigned" or "end-of-life" where it has none.
 */
export function severityFromUrgency(urgency: string | undefined): Severity {
  const word = (urgency ?? "").toLowerCase().replace(/\*+$/, "").trim();
  switch (word) {
    case "unimportant":
      return "negligible";
    case "low":
      return "low";
    case "medium":
      return "medium";
    case "high":
      return "high";
    case "emergency":
    case "critical":
      return "critical";
    default:
      return "unknown";
  }
}

/**
 * A CVSS score as a severity: FIRST's qualitative rating (v3.x and v4.0 share it), with its
 * "none" (0.0) as negligible, the nearest of strata's words.
 */
export function severityFromScore(score: number): Severity {
  if (!Number.isFinite(score) || score < 0 || score > 10) return "unknown";
  if (score === 0) return "negligible";
  if (score >= 9) return "critical";
  if (score >= 7) return "high";
  if (score >= 4) return "medium";
  return "low";
}
