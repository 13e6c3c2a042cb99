import { compareVersions } from "../debian/version.js";
import { type Advisory, CVE_ID, DEB_VERSION, SOURCE_NAME } from "./advisory.js";
import { severityFromUrgency } from "./severity.js";

/**
 * debian/changelog (Policy 4.4), as shipped in `/usr/share/doc/PKG/changelog.Debian.gz`: entries,
 * newest first, each opened by `source (version) distribution(s); urgency=U` and closed by a
 * ` -- maintainer  date` line. Only what evidence needs is kept: version, distribution, urgency and
 * the CVE ids the entry's text names.
 */
export interface ChangelogEntry {
  source: string;
  version: string;
  distribution: string;
  urgency: string;
  cves: string[];
  /** The trailer's date (ISO 8601), when it parses. */
  date?: string;
}

const HEADER = /^([a-z0-9][a-z0-9+.-]*) \(([^() \t]+)\)((?:\s+[-+0-9a-z.]+)+);\s*(.*)$/i;
const TRAILER = /^ -- .*?>\s+(.+)$/;
const CVE_IN_TEXT = /\bCVE-\d{4}-\d{4,8}\b/g;
/** A changelog names a few thousand entries at most (glibc: ~1,500); more is not a changelog. */
const MAX_ENTRIES = 20_000;

/** Collects entries line by line, so a changelog is never held whole. */
export class ChangelogParser {
  readonly entries: ChangelogEntry[] = [];
  private current: ChangelogEntry | undefined;
  private cves = new Set<string>();

  line(line: string): void {
    const header = HEADER.exec(line);
    if (header && DEB_VERSION.test(header[2]) && SOURCE_NAME.test(header[1])) {
      this.close();
      if (this.entries.length >= MAX_ENTRIES) throw new Error(`more than ${MAX_ENTRIES} entries`);
      const urgency = /(?:^|[,\s])urgency=([A-Za-z]+)/i.exec(header[4])?.[1] ?? "low";
      const distribution = header[3].trim().split(/\s+/)[0];
      this.current = { source: header[1], version: header[2], distribution, urgency, cves: [] };
      return;
    }
    if (this.current === undefined) return;
    const trailer = TRAILER.exec(line);
    if (trailer) {
      const date = new Date(trailer[1].trim());
      if (!Number.isNaN(date.getTime())) this.current.date = date.toISOString();
      return;
    }
    for (const cve of line.match(CVE_IN_TEXT) ?? []) if (CVE_ID.test(cve)) this.cves.add(cve);
  }

  end(): ChangelogEntry[] {
    this.close();
    return this.entries;
  }

  private close(): void {
    if (this.current === undefined) return;
    this.current.cves = [...this.cves].sort();
    this.entries.push(this.current);
    this.current = undefined;
    this.cves = new Set();
  }
}

export function parseChangelog(text: string): ChangelogEntry[] {
  const parser = new ChangelogParser();
  for (const line of text.split("\n")) parser.line(line);
  return parser.end();
}

export interface ChangelogEvidence {
  /** One "fixed" advisory per CVE named between the two versions, fixed in the oldest entry naming it. */
  advisories: Advisory[];
  /** False when the changelog was trimmed above the installed version: older fixes may be missing. */
  complete: boolean;
}

/**
 * What a newer package's changelog says was fixed after `installed` up to `available` (both
 * source versions, in dpkg order; the entries' order in the file is not trusted).
 */
export function changelogEvidence(
  entries: ChangelogEntry[],
  target: { source: string; release: string; installed: string; available: string; availableIn: string },
): ChangelogEvidence {
  const between = entries
    .filter(
      (e) =>
        compareVersions(e.version, target.installed) > 0 && compareVersions(e.version, target.available) <= 0,
    )
    .sort((a, b) => compareVersions(b.version, a.version));
  const fixedIn = new Map<string, ChangelogEntry>();
  for (const entry of between) for (const cve of entry.cves) fixedIn.set(cve, entry);
  const advisories = [...fixedIn].map(
    ([id, entry]): Advisory => ({
      id,
      source: target.source,
      release: target.release,
      status: "fixed",
      fixedVersion: entry.version,
      severity: severityFromUrgency(entry.urgency),
      origin: "changelog",
      availableIn: target.availableIn,
      ...(entry.date && { fixedSince: entry.date }),
    }),
  );
  const complete = entries.some((e) => compareVersions(e.version, target.installed) <= 0);
  return { advisories: advisories.sort((a, b) => a.id.localeCompare(b.id, "en")), complete };
}
