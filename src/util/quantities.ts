import { StrataError } from "./errors.js";

/**
 * Durations, byte sizes and CPU counts as flags take them: `90`, `90s`, `5m`, `1h30m`, `500ms`;
 * `268435456`, `256M`, `256Mi`, `1G`, `1GiB` (K, M, G, T are powers of 1024, as runtimes read them);
 * `1.5` CPUs.
 */

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const BYTE_UNITS: Record<string, number> = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
const MAX_DURATION_MS = 366 * 24 * 3_600_000;

function usage(flag: string, text: string, hint: string): StrataError {
  return new StrataError("USAGE", `${flag} ${text}: not understood`, { hint });
}

/** Milliseconds; a bare number is seconds. */
export function parseDuration(text: string, flag: string): number {
  const hint = "write a duration: 90 (seconds), 90s, 5m, 1h30m or 500ms";
  if (/^\d+(\.\d+)?$/.test(text)) return checkedDuration(Number(text) * 1000, flag, text, hint);
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) throw usage(flag, text, hint);
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]], 0);
  return checkedDuration(ms, flag, text, hint);
}

function checkedDuration(ms: number, flag: string, text: string, hint: string): number {
  if (!(ms > 0) || ms > MAX_DURATION_MS) throw usage(flag, text, hint);
  return Math.round(ms);
}

export function parseBytes(text: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)([kmgt]?)(i?b?)$/i.exec(text);
  const hint = "write a size in bytes, or with a unit: 256M, 1G (powers of 1024)";
  if (match === null) throw usage(flag, text, hint);
  const bytes = Math.floor(Number(match[1]) * BYTE_UNITS[match[2].toLowerCase()]);
  if (!Number.isSafeInteger(bytes) || bytes < 4096) throw usage(flag, text, `${hint}; at least 4096`);
  return bytes;
}

export function parseCpus(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(n >= 0.01) || n > 1024) {
    throw usage(flag, text, "write a number of CPUs: 1, 0.5, 2");
  }
  return n;
}
