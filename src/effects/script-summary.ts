import type { SkippedEffect } from "../debian/maintscripts.js";
import { DELIBERATE_SKIPS } from "../debian/shell/system.js";
import { compareText } from "../util/order.js";

/**
 * One package's maintainer scripts in a few words: how much was made natively, how many commands
 * were skipped and why, most frequent reason first. A build prints these instead of one line per
 * skipped command (`--json` keeps every command).
 */
export interface ScriptSummary {
  package: string;
  /** Paths made or changed, and accounts added. */
  made: number;
  skipped: number;
  /** Reasons with how many skipped commands each explains, most first (ties by text). */
  reasons: { reason: string; count: number }[];
}

/** The packages with scripts that made or skipped anything, by name. */
export function summarizeScripts(made: Record<string, number>, skipped: SkippedEffect[]): ScriptSummary[] {
  const byPackage = new Map<string, ScriptSummary>();
  const of = (pkg: string) => {
    let s = byPackage.get(pkg);
    if (s === undefined) byPackage.set(pkg, (s = { package: pkg, made: 0, skipped: 0, reasons: [] }));
    return s;
  };
  for (const [pkg, n] of Object.entries(made)) if (n > 0) of(pkg).made = n;
  for (const e of skipped) {
    const s = of(e.package);
    s.skipped++;
    const known = s.reasons.find((r) => r.reason === e.reason);
    if (known) known.count++;
    else s.reasons.push({ reason: e.reason, count: 1 });
  }
  const summaries = [...byPackage.values()].sort((a, b) => compareText(a.package, b.package));
  for (const s of summaries) s.reasons.sort((a, b) => b.count - a.count || compareText(a.reason, b.reason));
  return summaries;
}

/** How many reasons a summary line names; the rest are counted. */
const TOP_REASONS = 2;

/** "locales: made 2, skipped 19 (15 not a command strata follows; 2 ...; 2 more)". */
export function scriptSummaryLine(s: ScriptSummary): string {
  if (s.skipped === 0) return `${s.package}: made ${s.made}, skipped 0`;
  const top = s.reasons.slice(0, TOP_REASONS).map((r) => `${r.count} ${r.reason}`);
  const rest = s.reasons.slice(TOP_REASONS).reduce((n, r) => n + r.count, 0);
  if (rest > 0) top.push(`${rest} more`);
  return `${s.package}: made ${s.made}, skipped ${s.skipped} (${top.join("; ")})`;
}

/**
 * The skipped commands that are not left out on purpose (DELIBERATE_SKIPS): what dpkg's install
 * would have made and the image lacks. `build --strict` fails on any.
 */
export function scriptGaps(skipped: SkippedEffect[]): SkippedEffect[] {
  return skipped.filter((e) => !DELIBERATE_SKIPS.has(e.reason));
}

/** "3 script effects not made (postgresql-common 2, php8.2-cli 1)", for --strict's error. */
export function gapsText(gaps: SkippedEffect[]): string {
  const byPackage = new Map<string, number>();
  for (const g of gaps) byPackage.set(g.package, (byPackage.get(g.package) ?? 0) + 1);
  const list = [...byPackage].sort((a, b) => b[1] - a[1] || compareText(a[0], b[0]));
  const shown = list.slice(0, 5).map(([p, n]) => `${p} ${n}`);
  if (list.length > 5) shown.push(`${list.length - 5} more packages`);
  return `${gaps.length} script effects not made (${shown.join(", ")})`;
}
