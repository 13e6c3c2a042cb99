import { StrataError } from "../util/errors.js";
import type { Severity } from "./severity.js";

/**
 * One advisory about one source package in one Debian release, whichever feed said it. Statuses
 * are Debian's: "fixed" in `fixedVersion` (a source version), "open" (no fix in the release yet),
 * "undetermined" (not yet known whether the release is affected), "not-affected" (the tracker's
 * resolved-in-version-0: the code was never there).
 */
export type AdvisoryStatus = "fixed" | "open" | "undetermined" | "not-affected";

export type AdvisoryOrigin = "tracker" | "osv" | "changelog";

export interface Advisory {
  /** A CVE id where there is one ("CVE-2024-5535"), else the feed's id ("TEMP-…", "DSA-…"). */
  id: string;
  /** The source package. */
  source: string;
  /** The release's codename ("bookworm"). */
  release: string;
  status: AdvisoryStatus;
  fixedVersion?: string;
  /** OSV ranges may start later than "0": versions below are not affected. */
  introducedVersion?: string;
  severity: Severity;
  /** The tracker's no-dsa note: the security team fixes it in a point release, if at all. */
  noDsa?: string;
  origin: AdvisoryOrigin;
  /** Where the fixed version can be had ("bookworm-security"), when the evidence says. */
  availableIn?: string;
  /** When the fix was published (ISO 8601), when the evidence says: policies may wait some days. */
  fixedSince?: string;
}

/** Source package names (Policy 5.6.1) and deb-version(7) versions, as any feed must spell them. */
export const SOURCE_NAME = /^[a-z0-9][a-z0-9+.-]{0,127}$/;
export const DEB_VERSION = /^(?:\d{1,9}:)?[0-9][A-Za-z0-9.+~:-]{0,254}$/;
export const ADVISORY_ID = /^[A-Z][A-Za-z0-9._:-]{2,63}$/;
export const CVE_ID = /^CVE-\d{4}-\d{4,8}$/;
const RELEASE = /^[a-z][a-z0-9-]{1,31}$/;

/** Debian's release numbers as OSV names them ("Debian:12") and their codenames. */
export const DEBIAN_RELEASES: Record<string, string> = {
  "9": "stretch",
  "10": "buster",
  "11": "bullseye",
  "12": "bookworm",
  "13": "trixie",
  "14": "forky",
};

export function feedError(where: string, why: string): StrataError {
  return new StrataError("INDEX_INVALID", `${where}: ${why}`, {
    hint: "the advisory feed is damaged or not in the expected format (Debian security tracker JSON or OSV)",
  });
}

/** Throws unless every field of `a` is well-formed: feeds are hostile input like any other. */
export function checkAdvisory(a: Advisory, where: string): Advisory {
  const bad = (field: string, value: unknown) =>
    feedError(where, `${field} ${JSON.stringify(String(value).slice(0, 80))} is not valid`);
  if (!ADVISORY_ID.test(a.id)) throw bad("id", a.id);
  if (!SOURCE_NAME.test(a.source)) throw bad(`${a.id}: source package`, a.source);
  if (!RELEASE.test(a.release)) throw bad(`${a.id}: release`, a.release);
  if (a.fixedVersion !== undefined && !DEB_VERSION.test(a.fixedVersion))
    throw bad(`${a.id}: fixed version`, a.fixedVersion);
  if (a.introducedVersion !== undefined && !DEB_VERSION.test(a.introducedVersion))
    throw bad(`${a.id}: introduced version`, a.introducedVersion);
  if (a.noDsa !== undefined && a.noDsa.length > 200) throw bad(`${a.id}: nodsa`, a.noDsa);
  return a;
}
