import { isJsonObject, type Json } from "../util/json.js";
import { type Advisory, type AdvisoryStatus, checkAdvisory, feedError } from "./advisory.js";
import { severityFromUrgency } from "./severity.js";

/**
 * The Debian security tracker's JSON (https://security-tracker.debian.org/tracker/data/json):
 * `{source: {CVE: {description?, scope?, debianbug?, releases: {codename: {status, repositories,
 * fixed_version?, urgency, nodsa?, nodsa_reason?}}}}}`.
 */

function optionalString(value: unknown, what: string, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw feedError(where, `${what} is not a string`);
  return value;
}

/** Whether `json` looks like the tracker's document (an object of objects), not OSV. */
export function isTrackerDocument(json: unknown): json is Json {
  return isJsonObject(json) && !("affected" in json) && !("id" in json && "modified" in json);
}

/** One release entry as an advisory; the tracker's "resolved" in version 0 means not affected. */
function releaseAdvisory(
  source: string,
  id: string,
  release: string,
  entry: unknown,
  where: string,
): Advisory {
  const at = `${where}: ${source} ${id} ${release}`;
  if (!isJsonObject(entry)) throw feedError(at, "is not an object");
  const status = optionalString(entry.status, "status", at);
  const fixed = optionalString(entry.fixed_version, "fixed_version", at);
  let mapped: AdvisoryStatus;
  if (status === "resolved") mapped = fixed === "0" ? "not-affected" : "fixed";
  else if (status === "open" || status === "undetermined") mapped = status;
  else throw feedError(at, `unknown status ${JSON.stringify(String(status).slice(0, 40))}`);
  if (mapped === "fixed" && fixed === undefined) throw feedError(at, "is resolved without a fixed_version");
  const advisory: Advisory = {
    id,
    source,
    release,
    status: mapped,
    severity: severityFromUrgency(optionalString(entry.urgency, "urgency", at)),
    origin: "tracker",
  };
  if (mapped === "fixed") advisory.fixedVersion = fixed;
  const noDsa = optionalString(entry.nodsa, "nodsa", at);
  if (noDsa !== undefined)
    advisory.noDsa = noDsa || (optionalString(entry.nodsa_reason, "nodsa_reason", at) ?? "");
  return checkAdvisory(advisory, where);
}

/**
 * Every advisory of the tracker's document, for the releases `keep` accepts (all by default).
 * Any malformed part fails the whole feed: a feed half-read would silently clear images.
 */
export function* trackerAdvisories(
  json: unknown,
  where: string,
  keep: (release: string) => boolean = () => true,
): Generator<Advisory> {
  if (!isJsonObject(json)) throw feedError(where, "is not a JSON object");
  for (const [source, cves] of Object.entries(json)) {
    if (!isJsonObject(cves)) throw feedError(where, `${source.slice(0, 80)} is not an object`);
    for (const [id, cve] of Object.entries(cves)) {
      if (!isJsonObject(cve) || !isJsonObject(cve.releases))
        throw feedError(where, `${source.slice(0, 80)} ${id.slice(0, 40)} has no releases object`);
      for (const [release, entry] of Object.entries(cve.releases)) {
        if (keep(release)) yield releaseAdvisory(source, id, release, entry, where);
      }
    }
  }
}
