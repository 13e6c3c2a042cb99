import type { Finding } from "../advisories/match.js";

/** What a fix command depends on: how the image is named, how it was built, and what the scan consulted. */
export interface FixContext {
  /** The image as `strata update` takes it (a location, or docker://REF). */
  location: string;
  builtByStrata: boolean;
  /** The suites the image was locked from (its build record), when it has one. */
  lockedSuites?: string[];
  /** The spec the scan read newer versions from (`scan --spec`), if any. */
  spec?: string;
}

/**
 * The exact command that installs a fix, for a finding whose fixed version the repositories offer:
 * `strata update` alone when the suite offering it is one the image was locked from, else with the
 * `--spec` that brings that suite in (its repositories are not the image's own). An image strata did
 * not build cannot be updated in place: the hint says to rebuild it.
 */
export function fixCommand(f: Finding, ctx: FixContext): string | undefined {
  if (f.status !== "fixed" || !f.updatable) return undefined;
  if (!ctx.builtByStrata) return `rebuild the image with ${f.package} ${f.fixedVersion} or newer`;
  const update = `strata update ${ctx.location} --package ${f.package}`;
  if (f.availableIn !== undefined && ctx.lockedSuites?.includes(f.availableIn)) return update;
  const spec = ctx.spec ?? "SPEC";
  const why =
    ctx.spec === undefined ? ` (a spec whose repositories include ${f.availableIn ?? "the fix"})` : "";
  return `${update} --spec ${spec}${why}`;
}

/** The findings with `fix` set where a command installs the fix. */
export function withFixes(findings: Finding[], ctx: FixContext): Finding[] {
  return findings.map((f) => {
    const fix = fixCommand(f, ctx);
    return fix === undefined ? f : { ...f, fix };
  });
}
