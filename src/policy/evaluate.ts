import { type ReleaseCoverage, uncoveredText } from "../advisories/coverage.js";
import type { Finding } from "../advisories/match.js";
import { type Severity, severityRank } from "../advisories/severity.js";
import { versionSatisfies } from "../debian/version.js";
import type { SuppressedFinding } from "../scan/scan.js";

/** Why an image's vulnerabilities are unknown when its release could not be told. */
const NO_RELEASE = "its Debian release is not known (no base-files says it): give --release CODENAME";

import type { Exemption, PackageRule, Policy } from "./policy.js";

/** What a policy decides on, gathered from an image, the index or both; no layer needs reading. */
export interface ImageFacts {
  /** The image as the user or the pod spec named it. */
  reference: string;
  /** registry/repository (or the image location) without tag or digest: what exemptions name. */
  repository: string;
  /** The manifest digest, when known. */
  digest?: string;
  /** The reference pins a digest (…@sha256:…) rather than a tag. */
  pinned: boolean;
  builtByStrata: boolean;
  /** Whether an SBOM is attached or beside the image; undefined when it could not be told. */
  hasSbom?: boolean;
  packages: { name: string; version: string }[];
  findings: Finding[];
  /** Findings VEX statements took out (scan/scan.ts), shown with the decision. */
  suppressed?: SuppressedFinding[];
  /** Whether a key of the policy's `signed-by` signed the digest (and why not); undefined when not checked. */
  signature?: Verification;
  /** Whether a signed provenance names the image; undefined when not checked. */
  provenance?: Verification;
  /** What speaks for the image's release; undefined when its release could not be told. */
  coverage?: ReleaseCoverage;
}

export interface Verification {
  verified: boolean;
  reason?: string;
}

export interface Violation {
  rule:
    | "fixable"
    | "unfixed"
    | "package"
    | "built-by-strata"
    | "sbom"
    | "digest"
    | "signed-by"
    | "provenance"
    | "coverage";
  message: string;
  id?: string;
  package?: string;
}

export interface Decision {
  reference: string;
  allowed: boolean;
  violations: Violation[];
  /** Violations an exemption lifted, with its reason. */
  exempted: (Violation & { reason: string; expires: string })[];
  /** Exemptions that would have applied but have expired: said, so nobody wonders why they stopped. */
  expired: string[];
  /** Why the image's vulnerabilities are unknown (nothing covers its release), whatever the policy requires. */
  unknown?: string;
  /** Findings VEX statements took out before the policy saw them, each with whose statement. */
  suppressed?: SuppressedFinding[];
}

/** Debian's "not yet assigned" urgency is treated as medium: a fix without an urgency still counts. */
function effectiveRank(severity: Severity): number {
  return severityRank(severity === "unknown" ? "medium" : severity);
}

function daysSince(iso: string | undefined, now: Date): number {
  const t = iso === undefined ? Number.NaN : Date.parse(iso);
  return Number.isNaN(t) ? Number.POSITIVE_INFINITY : (now.getTime() - t) / 86_400_000;
}

function findingViolation(policy: Policy, f: Finding, now: Date): Violation | undefined {
  const where = `${f.package} ${f.version}`;
  if (f.status === "fixed" && policy.fixable) {
    const { severity, afterDays } = policy.fixable;
    if (effectiveRank(f.severity) < severityRank(severity)) return undefined;
    if (daysSince(f.fixedSince, now) < afterDays) return undefined;
    const where2 = f.availableIn ? ` (available in ${f.availableIn})` : "";
    const message = `${f.id} (${f.severity}) in ${where}: fixed in ${f.fixedVersion}${where2}`;
    return { rule: "fixable", message, id: f.id, package: f.package };
  }
  if (
    f.status !== "fixed" &&
    policy.unfixed &&
    effectiveRank(f.severity) >= severityRank(policy.unfixed.severity)
  ) {
    const message = `${f.id} (${f.severity}) in ${where}: no fix yet (${f.status})`;
    return { rule: "unfixed", message, id: f.id, package: f.package };
  }
  return undefined;
}

function packageViolations(rules: PackageRule[], packages: ImageFacts["packages"]): Violation[] {
  const out: Violation[] = [];
  for (const rule of rules) {
    for (const p of packages) {
      if (p.name !== rule.name) continue;
      if (rule.op && !versionSatisfies(p.version, rule.op, rule.version!)) continue;
      out.push({
        rule: "package",
        message: `${p.name} ${p.version} is denied ("${rule.text}")`,
        package: p.name,
      });
    }
  }
  return out;
}

function unverified(facts: ImageFacts, what: string, verdict: Verification | undefined): string {
  const why = verdict === undefined ? "it could not be checked" : (verdict.reason ?? "not verified");
  return `${facts.reference} is not ${what}: ${why}`;
}

function requirementViolations(policy: Policy, facts: ImageFacts): Violation[] {
  const out: Violation[] = [];
  if (policy.require.builtByStrata && !facts.builtByStrata)
    out.push({ rule: "built-by-strata", message: `${facts.reference} was not built by strata` });
  if (policy.require.sbom && facts.hasSbom !== true)
    out.push({ rule: "sbom", message: `${facts.reference} has no SBOM attached` });
  if (policy.require.digest && !facts.pinned)
    out.push({ rule: "digest", message: `${facts.reference} is not pinned by digest (name@sha256:…)` });
  if (policy.require.signedBy.length > 0 && facts.signature?.verified !== true)
    out.push({
      rule: "signed-by",
      message: unverified(facts, "signed by a key of signed-by", facts.signature),
    });
  if (policy.require.coverage && facts.coverage?.covered !== true) {
    const why = facts.coverage ? uncoveredText(facts.coverage) : NO_RELEASE;
    out.push({ rule: "coverage", message: `${facts.reference}: vulnerabilities unknown: ${why}` });
  }
  if (policy.require.provenance && facts.provenance?.verified !== true)
    out.push({
      rule: "provenance",
      message: unverified(facts, "attested by a signed provenance", facts.provenance),
    });
  return out;
}

/** Whether an exemption is about this violation of this image (its date aside). */
function covers(e: Exemption, v: Violation, facts: ImageFacts): boolean {
  if (e.cve !== undefined && e.cve !== v.id) return false;
  if (e.package !== undefined && e.package !== v.package) return false;
  if (e.image !== undefined && e.image !== facts.repository && e.image !== facts.reference) return false;
  return v.id !== undefined || v.package !== undefined;
}

/**
 * Until when (epoch ms) a decision made at `now` stays what it is: the first instant a fixed
 * finding's grace period (`fixable.after-days`) ends or a live exemption expires; Infinity when
 * nothing in it depends on time.
 */
export function decisionValidUntil(policy: Policy, facts: ImageFacts, now: Date): number {
  let until = Number.POSITIVE_INFINITY;
  const { fixable } = policy;
  for (const f of fixable ? facts.findings : []) {
    if (f.status !== "fixed" || effectiveRank(f.severity) < severityRank(fixable!.severity)) continue;
    const graceEnds = Date.parse(f.fixedSince ?? "") + fixable!.afterDays * 86_400_000;
    if (graceEnds > now.getTime()) until = Math.min(until, graceEnds);
  }
  for (const e of policy.exemptions) {
    if (e.expiresAt > now) until = Math.min(until, e.expiresAt.getTime());
  }
  return until;
}

/** The policy's decision about one image at `now`. */
export function evaluatePolicy(policy: Policy, facts: ImageFacts, now = new Date()): Decision {
  const found = [
    ...facts.findings.flatMap((f) => findingViolation(policy, f, now) ?? []),
    ...packageViolations(policy.packages, facts.packages),
    ...requirementViolations(policy, facts),
  ];
  const decision: Decision = {
    reference: facts.reference,
    allowed: true,
    violations: [],
    exempted: [],
    expired: [],
  };
  for (const v of found) {
    const matching = policy.exemptions.filter((e) => covers(e, v, facts));
    const live = matching.find((e) => e.expiresAt > now);
    if (live) {
      decision.exempted.push({ ...v, reason: live.reason, expires: live.expires });
      continue;
    }
    decision.violations.push(v);
    for (const e of matching)
      decision.expired.push(`the exemption of ${e.cve ?? e.package} ("${e.reason}") expired on ${e.expires}`);
  }
  decision.expired = [...new Set(decision.expired)];
  if (facts.coverage && !facts.coverage.covered)
    decision.unknown = `vulnerabilities unknown: ${uncoveredText(facts.coverage)}`;
  // Packages without a release to match them in are as unknown as a release nothing covers.
  else if (!facts.coverage && facts.packages.length > 0)
    decision.unknown = `vulnerabilities unknown: ${NO_RELEASE}`;
  if (facts.suppressed?.length) decision.suppressed = facts.suppressed;
  decision.allowed = decision.violations.length === 0;
  return decision;
}
