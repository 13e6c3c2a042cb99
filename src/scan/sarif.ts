import type { Finding } from "../advisories/match.js";
import type { Severity } from "../advisories/severity.js";
import type { ImageScan } from "./scan.js";

/**
 * SARIF 2.1.0 (OASIS) as code-scanning dashboards read it (GitHub's documented subset): one rule per
 * CVE with a `security-severity` score, one result per vulnerable package and image, a location
 * (the package's dpkg record in the image) and fingerprints that stay the same from run to run.
 */
const SARIF_SCHEMA =
  "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/** GitHub's bands: critical > 9.0, high 7.0–8.9, medium 4.0–6.9, low 0.1–3.9. */
const SECURITY_SEVERITY: Record<Severity, string> = {
  critical: "9.5",
  high: "8.0",
  medium: "5.5",
  unknown: "5.5",
  low: "2.0",
  negligible: "0.5",
};

function level(severity: Severity): "error" | "warning" | "note" {
  if (severity === "critical" || severity === "high") return "error";
  if (severity === "medium" || severity === "unknown") return "warning";
  return "note";
}

function rule(f: Finding) {
  const url = `https://security-tracker.debian.org/tracker/${f.id}`;
  return {
    id: f.id,
    name: f.id.replace(/-/g, ""),
    shortDescription: { text: `${f.id} in Debian source package ${f.source}` },
    helpUri: url,
    help: { text: `See ${url}`, markdown: `See [${f.id}](${url}) in the Debian security tracker.` },
    properties: {
      tags: ["security", "vulnerability", "debian"],
      "security-severity": SECURITY_SEVERITY[f.severity],
    },
  };
}

function message(f: Finding, scan: ImageScan): string {
  const fix =
    f.status === "fixed"
      ? `fixed in ${f.fixedVersion}${f.availableIn ? ` (available in ${f.availableIn})` : ""}`
      : `no fix yet (${f.status})`;
  return `${f.package} ${f.version} (source ${f.source} ${f.sourceVersion}) in ${scan.reference}: ${f.id}, ${f.severity}, ${fix}`;
}

function result(f: Finding, scan: ImageScan, ruleIndex: number) {
  const record = scan.builtByStrata ? `var/lib/dpkg/status.d/${f.package}` : "var/lib/dpkg/status";
  return {
    ruleId: f.id,
    ruleIndex,
    level: level(f.severity),
    message: { text: message(f, scan) },
    locations: [
      {
        physicalLocation: { artifactLocation: { uri: record }, region: { startLine: 1 } },
        logicalLocations: [
          { name: scan.reference, fullyQualifiedName: `${scan.reference}@${scan.digest}`, kind: "module" },
        ],
      },
    ],
    partialFingerprints: { "strata/v1": `${scan.reference}:${f.package}:${f.id}` },
    properties: { fixedVersion: f.fixedVersion, updatable: f.updatable, imageDigest: scan.digest },
  };
}

export function scanSarif(scans: ImageScan[], version: string) {
  const rules = new Map<string, ReturnType<typeof rule>>();
  for (const scan of scans) for (const f of scan.findings) if (!rules.has(f.id)) rules.set(f.id, rule(f));
  const ids = [...rules.keys()];
  return {
    $schema: SARIF_SCHEMA,
    version: "2.1.0",
    runs: [
      {
        tool: {
          driver: {
            name: "strata",
            version,
            rules: [...rules.values()],
          },
        },
        results: scans.flatMap((s) => s.findings.map((f) => result(f, s, ids.indexOf(f.id)))),
      },
    ],
  };
}
