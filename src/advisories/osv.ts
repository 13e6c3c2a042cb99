import { isJsonObject, type Json } from "../util/json.js";
import { type Advisory, CVE_ID, checkAdvisory, DEBIAN_RELEASES, feedError } from "./advisory.js";
import { cvssScore } from "./cvss.js";
import { type Severity, severityFromScore, severityFromUrgency } from "./severity.js";

/**
 * OSV records (https://ossf.github.io/osv-schema/) for Debian: `affected[].package` is
 * `{ecosystem: "Debian:12", name: SOURCE}` and `ranges[]` of type ECOSYSTEM with `introduced` /
 * `fixed` events in dpkg order. A record names one issue; its CVE id is its id, or one of its
 * `aliases` / `upstream` when the id is Debian's own (DSA-…, DLA-…, DEBIAN-CVE-…).
 */

export function isOsvRecord(json: unknown): json is Json {
  return isJsonObject(json) && typeof json.id === "string" && Array.isArray(json.affected);
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}

/** The CVE ids a record is about; the record's own id when it names none. */
function recordIds(record: Json): string[] {
  const id = String(record.id);
  if (CVE_ID.test(id)) return [id];
  const cves = [...stringList(record.aliases), ...stringList(record.upstream)].filter((a) => CVE_ID.test(a));
  if (cves.length > 0) return [...new Set(cves)];
  const stripped = id.replace(/^DEBIAN-/, "");
  return [CVE_ID.test(stripped) ? stripped : id];
}

function recordSeverity(record: Json, affected: Json): Severity {
  for (const holder of [affected.ecosystem_specific, affected.database_specific, record.database_specific]) {
    if (isJsonObject(holder) && typeof holder.urgency === "string")
      return severityFromUrgency(holder.urgency);
    if (isJsonObject(holder) && typeof holder.severity === "string")
      return severityFromUrgency(holder.severity);
  }
  const score = recordScore(record.severity);
  return score === undefined ? "unknown" : severityFromScore(score);
}

/** A bare score as some feeds give it ("7.5"): 0 to 10. */
const NUMERIC_SCORE = /^(10(\.0+)?|\d(\.\d+)?)$/;

/**
 * The score of OSV's `severity[]`: of its CVSS v3.x and v4.0 vectors, the newest version's (the
 * first of that version); else a bare numeric score. A malformed vector counts as none.
 */
function recordScore(entries: unknown): number | undefined {
  let best: { version: number; score: number } | undefined;
  for (const entry of Array.isArray(entries) ? entries : []) {
    if (!isJsonObject(entry) || typeof entry.score !== "string") continue;
    const vector = cvssScore(entry.score);
    const version = vector === undefined ? 0 : Number(entry.score.slice(5, 8));
    const score = vector ?? (NUMERIC_SCORE.test(entry.score) ? Number(entry.score) : undefined);
    if (score !== undefined && (best === undefined || version > best.version)) best = { version, score };
  }
  return best?.score;
}

/**
 * The advisories one record may yield: ids × ranges × affected packages. Real Debian records
 * stay in the hundreds (a chromium DSA names a few dozen CVEs); a record built to multiply
 * (N aliases by N ranges) is refused instead of stored N² times.
 */
const MAX_ADVISORIES_PER_RECORD = 5_000;

/** The introduced and fixed versions of an ECOSYSTEM range (OSV lists events in order). */
function rangeBounds(range: unknown, where: string): { introduced?: string; fixed?: string } {
  if (!isJsonObject(range) || !Array.isArray(range.events)) throw feedError(where, "a range has no events");
  const bounds: { introduced?: string; fixed?: string } = {};
  for (const event of range.events) {
    if (!isJsonObject(event)) throw feedError(where, "an event is not an object");
    if (typeof event.introduced === "string" && event.introduced !== "0")
      bounds.introduced = event.introduced;
    if (typeof event.fixed === "string") bounds.fixed = event.fixed;
  }
  return bounds;
}

function* affectedAdvisories(record: Json, affected: unknown, where: string): Generator<Advisory> {
  if (!isJsonObject(affected) || !isJsonObject(affected.package))
    throw feedError(where, "an affected entry has no package");
  const ecosystem = /^Debian:(\d+)$/.exec(String(affected.package.ecosystem));
  const release = ecosystem ? DEBIAN_RELEASES[ecosystem[1]] : undefined;
  if (release === undefined) return; // another distribution or an unknown release: not ours.
  const source = String(affected.package.name);
  const ranges = distinctBounds(
    (Array.isArray(affected.ranges) ? affected.ranges : [])
      .filter((r) => isJsonObject(r) && r.type === "ECOSYSTEM")
      .map((r) => rangeBounds(r, where)),
  );
  const severity = recordSeverity(record, affected);
  for (const id of recordIds(record)) {
    if (ranges.length === 0) {
      yield checkAdvisory({ id, source, release, status: "open", severity, origin: "osv" }, where);
      continue;
    }
    for (const { introduced, fixed } of ranges) {
      const advisory: Advisory = {
        id,
        source,
        release,
        status: fixed ? "fixed" : "open",
        severity,
        origin: "osv",
      };
      if (fixed) advisory.fixedVersion = fixed;
      if (fixed && typeof record.published === "string" && !Number.isNaN(Date.parse(record.published)))
        advisory.fixedSince = new Date(record.published).toISOString();
      if (introduced) advisory.introducedVersion = introduced;
      yield checkAdvisory(advisory, where);
    }
  }
}

/** Ranges with the same bounds once: they would only store the same advisory again. */
function distinctBounds(bounds: { introduced?: string; fixed?: string }[]) {
  const byKey = new Map(bounds.map((b) => [`${b.introduced ?? ""}\0${b.fixed ?? ""}`, b]));
  return [...byKey.values()];
}

/** The Debian advisories of one OSV record or a list of them. */
export function* osvAdvisories(json: unknown, where: string): Generator<Advisory> {
  const records = Array.isArray(json) ? json : [json];
  for (const [i, record] of records.entries()) {
    const at = Array.isArray(json) ? `${where}: record ${i}` : where;
    if (!isOsvRecord(record)) throw feedError(at, "is not an OSV record (no id and affected)");
    let yielded = 0;
    for (const affected of record.affected as unknown[]) {
      for (const advisory of affectedAdvisories(record, affected, at)) {
        if (++yielded > MAX_ADVISORIES_PER_RECORD)
          throw feedError(
            at,
            `yields more than ${MAX_ADVISORIES_PER_RECORD} advisories (ids × ranges × packages)`,
          );
        yield advisory;
      }
    }
  }
}
