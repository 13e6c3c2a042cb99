import type { Finding, InstalledPackage } from "../advisories/match.js";
import { type Severity, severityRank } from "../advisories/severity.js";
import type { ImageScan } from "./scan.js";

export interface ScannedPackage extends InstalledPackage {
  architecture?: string;
}

/** `--fail-on`: a severity (at or above it; "unknown" counts as medium) or "fixable" (any fix exists). */
export type FailOn = Severity | "fixable";

export function failsOn(finding: Finding, failOn: FailOn): boolean {
  if (failOn === "fixable") return finding.status === "fixed";
  const severity = finding.severity === "unknown" ? "medium" : finding.severity;
  return severityRank(severity) >= severityRank(failOn);
}

function findingLine(f: Finding): string {
  const fix =
    f.status === "fixed"
      ? `fixed in ${f.fixedVersion}${f.availableIn ? `, available in ${f.availableIn}` : ""}${f.updatable ? " (strata update fixes it)" : ""}`
      : `no fix yet (${f.status}${f.noDsa !== undefined ? ", no-dsa" : ""})`;
  return `  ${f.id.padEnd(16)} ${f.severity.padEnd(10)} ${f.package} ${f.version}: ${fix}`;
}

/** The human report of one image scan. */
export function scanLines(scan: ImageScan): string[] {
  const fixable = scan.findings.filter((f) => f.status === "fixed").length;
  const updatable = scan.findings.filter((f) => f.updatable).length;
  const lines = [
    `${scan.reference}${scan.superseded ? " (superseded: no tag names it)" : ""} (${scan.digest}, debian ${scan.release}): ${scan.packageCount} packages, ` +
      `${scan.findings.length} vulnerabilities, ${fixable} with a fix, ${updatable} fixable now by strata update`,
    ...scan.findings.map(findingLine),
  ];
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
      trimmedChangelogs: s.trimmed,
      ...(s.superseded ? { superseded: true } : {}),
    })),
  };
}
