/**
 * What an image's os-release(5) file says of its distribution: `ID`, `VERSION_ID`,
 * `VERSION_CODENAME` and `PRETTY_NAME`, each checked before use (they reach purls and reports);
 * and for Debian the point release `/etc/debian_version` names ("12.8"), which scanners put in purls.
 */

export interface OsRelease {
  id: string;
  versionId?: string;
  codename?: string;
  prettyName?: string;
  /** Debian's point release ("12.8"), from /etc/debian_version; testing and sid have none ("trixie/sid"). */
  pointRelease?: string;
}

export const OS_RELEASE_PATHS = ["etc/os-release", "usr/lib/os-release"];
export const MAX_OS_RELEASE_BYTES = 64 << 10;
export const DEBIAN_VERSION_PATH = "etc/debian_version";
export const MAX_DEBIAN_VERSION_BYTES = 256;

const ID = /^[a-z0-9._-]{1,64}$/;
const VERSION = /^[A-Za-z0-9._~-]{1,64}$/;

/** A shell-style value: unquoted, or in double or single quotes (backslash escapes in double). */
function unquote(value: string): string {
  const double = /^"((?:[^"\\]|\\.)*)"$/.exec(value);
  if (double !== null) return double[1].replace(/\\(.)/g, "$1");
  const single = /^'([^']*)'$/.exec(value);
  return single !== null ? single[1] : value;
}

/** The release an os-release text names, or undefined when it has no valid ID. */
export function parseOsRelease(text: string): OsRelease | undefined {
  const fields = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m !== null) fields.set(m[1], unquote(m[2]));
  }
  const id = fields.get("ID");
  if (id === undefined || !ID.test(id)) return undefined;
  const release: OsRelease = { id };
  const versionId = fields.get("VERSION_ID");
  if (versionId !== undefined && VERSION.test(versionId)) release.versionId = versionId;
  const codename = fields.get("VERSION_CODENAME");
  if (codename !== undefined && ID.test(codename)) release.codename = codename;
  const pretty = fields.get("PRETTY_NAME");
  // Printable text only, and short: it is shown, never parsed.
  if (pretty !== undefined && /^[\x20-\x7e]{1,128}$/.test(pretty)) release.prettyName = pretty;
  return release;
}

/** A Debian release with the point release of /etc/debian_version, when that names a number. */
export function withDebianVersion(release: OsRelease, debianVersion: string | undefined): OsRelease {
  const point = debianVersion?.trim();
  if (release.id !== "debian" || point === undefined || !/^\d{1,4}(\.\d{1,4}){0,3}$/.test(point))
    return release;
  return { ...release, pointRelease: point };
}
