import type { Sample } from "./proc.js";

export function secs(s: number): string {
  return s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`;
}

/** "1.23 s (N=5, 1.20–1.31)" */
export function timing(s: Sample): string {
  const cpu = s.cpu === undefined ? "" : `, CPU ${secs(s.cpu)}`;
  return s.n === 1
    ? `${secs(s.median)} (N=1${cpu})`
    : `${secs(s.median)} (N=${s.n}, ${secs(s.min)}–${secs(s.max)}${cpu})`;
}

/** Decimal megabytes, as registries and `docker images` count them. */
export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function ratio(a: number, b: number): string {
  return b > 0 ? `${(a / b).toFixed(2)}×` : "n/a";
}

/** "met" / "**missed**" / "–" */
export function verdict(ok: boolean | undefined): string {
  return ok === undefined ? "–" : ok ? "met" : "**missed**";
}

export function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
