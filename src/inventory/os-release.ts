/**
 * What an image's os-release(5) file says of its distribution: `ID`, `VERSION_ID`,
 * `VERSION_CODENAME` and `PRETTY_NAME`, each checked before use (they reach purls and reports).
 */

export interface OsRelease {
  id: string;
  versionId?: string;
  codename?: string;
  prettyName?: string;
}

export const OS_RELEASE_PATHS = ["etc/os-release", "usr/lib/os-release"];
export const MAX_OS_RELEASE_BYTES = 64 << 10;

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
