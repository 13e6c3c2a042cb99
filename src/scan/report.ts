import { coverageHint, uncoveredText } from "../advisories/coverage.js";
import type { Finding, InstalledPackage } from "../advisories/match.js";
import { type Severity, severityRank } from "../advisories/severity.js";
import type { ImageScan, SuppressedFinding } from "./scan.js";

export interface ScannedPackage extends InstalledPackage {
  architecture?: string;
}

/** `--fail-on`: a severity (at or above it; "unknown" counts as medium) or "fixable" (any fix exists). */
export type FailOn = Severity | "fixable";

function failsOn(finding: Finding, failOn: FailOn): boolean {
  if (failOn === "fixable") return finding.status === "fixed";
  const severity = finding.severity === "unknown" ? "medium" : finding.severity;
  return severityRank(severity) >= severityRank(failOn);
}

function findingLine(f: Finding): string {
  const fix =
    f.status === "fixed"
      ? `fixed in ${f.fixedVersion}${f.availableIn ? `, available in ${f.availableIn}` : ""}${f.fix ? `: ${f.fix}` : ""}`
      : `no fix yet (${f.status}${f.noDsa !== undefined ? ", no-dsa" : ""})`;
  return `  ${f.id.padEnd(16)} ${f.severity.padEnd(10)} ${f.package} ${f.version}: ${fix}`;
}

/** "source: FILE, not_affected: vulnerable_code_not_present": whose statement, and what it says. */
export function vexReason({ vex }: SuppressedFinding): string {
  return `source: ${vex.source}, ${vex.status}${vex.justification === undefined ? "" : `: ${vex.justification}`}`;
}

function suppressedLine(f: SuppressedFinding): string {
  return `  ${f.id.padEnd(16)} ${f.severity.padEnd(10)} ${f.package} ${f.version}: suppressed by VEX (${vexReason(f)})`;
}

/** What the findings amount to: counts when the release is covered, "unknown" when nothing speaks for it. */
function findingsSummary(scan: ImageScan): string {
  const fixable = scan.findings.filter((f) => f.status === "fixed").length;
  const updatable = scan.findings.filter((f) => f.updatable).length;
  const vex = scan.suppressed.length > 0 ? `, ${scan.suppressed.length} suppressed by VEX` : "";
  const counts = `${scan.findings.length} vulnerabilities, ${fixable} with a fix, ${updatable} fixable now by strata update${vex}`;
  if (scan.coverage.covered) return counts;
  const found = scan.findings.length > 0 ? `; ${counts} in what was consulted` : "";
  return `vulnerabilities UNKNOWN: ${uncoveredText(scan.coverage)}${found}`;
}

/** The human report of one image scan. */
export function scanLines(scan: ImageScan): string[] {
  const lines = [
    `${scan.reference}${scan.superseded ? " (superseded: no tag names it)" : ""} (${scan.digest}, debian ${scan.release}): ${scan.packageCount} packages, ${findingsSummary(scan)}`,
    ...scan.findings.map(findingLine),
    ...scan.suppressed.map(suppressedLine),
  ];
  if (!scan.coverage.covered) lines.push(`  to know: ${coverageHint(scan.release)}`);
  if (scan.trimmed.length > 0)
    lines.push(
      `  note: the changelogs of ${scan.trimmed.join(", ")} do not reach back to the installed version`,
    );
  return lines;
}

/** The JSON report: stable field names a CI job can read. */
export function scanJson(scans: ImageScan[]) {
  return {
    images: scans.map((s) => ({
      reference: s.reference,
      digest: s.digest,
      release: s.release,
      builtByStrata: s.builtByStrata,
      packages: s.packageCount,
      findings: s.findings,
      suppressed: s.suppressed,
      trimmedChangelogs: s.trimmed,
      coverage: {
        covered: s.coverage.covered,
        sources: s.coverage.sources.map(({ location, kind, suites }) => ({ location, kind, suites })),
      },
      ...(s.superseded ? { superseded: true } : {}),
    })),
  };
}

/**
 * The `--fail-on` verdict of a scan: the findings at or above the level, and the images it cannot
 * pass because nothing covers their release (no data is no proof).
 */
export function failOnVerdict(scans: ImageScan[], failOn: FailOn) {
  return {
    failing: scans.flatMap((s) => s.findings.filter((f) => failsOn(f, failOn))),
    unknown: scans.filter((s) => !s.coverage.covered),
  };
}
