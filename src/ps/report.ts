import type { Finding } from "../advisories/match.js";
import { summarize } from "../serve/vulnerabilities.js";
import type { ContainerReport } from "./join.js";
import type { VulnerableRun } from "./recent-runs.js";

/** `strata ps`'s human table and the vulnerable packages of each container, and its JSON. */

const SHOWN = ["critical", "high", "medium", "low"] as const;

function vulnerableText(findings: Finding[]): string {
  if (findings.length === 0) return "-";
  const { bySeverity } = summarize(findings);
  const parts = SHOWN.filter((s) => bySeverity[s] > 0).map((s) => `${bySeverity[s]} ${s}`);
  return `${findings.length}${parts.length > 0 ? ` (${parts.join(", ")})` : ""}`;
}

function matchText(r: ContainerReport): string {
  if (!r.match) return "not indexed";
  // What still runs an image no tag names any more is what an operator must see.
  const superseded = r.match.image.superseded ? " (superseded)" : "";
  return `${r.match.by} ${r.match.image.digest.slice(7, 19)}${superseded}`;
}

function fixText(f: Finding): string {
  if (f.status !== "fixed") return f.status === "open" ? "no fix yet" : "fix undetermined";
  return `fixed in ${f.fixedVersion}${f.availableIn ? ` (${f.availableIn})` : ""}`;
}

function columns(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => rows.reduce((w, r) => Math.max(w, r[i].length), 0));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join("  "));
}

/** Recent runs of images that are vulnerable now, one line each. */
function runLines(runs: VulnerableRun[]): string[] {
  if (runs.length === 0) return [];
  return [
    "",
    "recent runs (strata run, last 7 days) of images vulnerable now:",
    ...runs.map(
      ({ run, findings }) =>
        `  ${new Date(run.startedAt).toISOString()}  ${run.name || run.id}  ${run.digest.slice(7, 19)}  ${vulnerableText(findings)}`,
    ),
  ];
}

export function psLines(reports: ContainerReport[], runs: VulnerableRun[] = []): string[] {
  if (reports.length === 0) return ["no running containers", ...runLines(runs)];
  const table = columns([
    ["CONTAINER", "IMAGE", "INDEXED AS", "PACKAGES", "VULNERABLE"],
    ...reports.map((r) => [
      r.container.name,
      r.container.image || "-",
      matchText(r),
      r.match ? String(r.packages.length) : "-",
      vulnerableText(r.findings),
    ]),
  ]);
  const details = reports
    .filter((r) => r.findings.length > 0)
    .flatMap((r) => [
      "",
      `${r.container.name}: vulnerable packages`,
      ...r.findings.map((f) => `  ${f.package} ${f.version}  ${f.id} ${f.severity}, ${fixText(f)}`),
    ]);
  return [...table, ...details, ...runLines(runs)];
}

export function psJson(reports: ContainerReport[], runs: VulnerableRun[] = []) {
  return {
    recentVulnerableRuns: runs.map(({ run, findings }) => ({ ...run, vulnerable: findings })),
    containers: reports.map((r) => ({
      ...r.container,
      indexed: r.match ? { ...r.match.image, by: r.match.by } : null,
      packages: r.packages,
      vulnerable: r.findings,
    })),
  };
}
