import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (bench/ sits right under it). */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const STRATA_BIN = fileURLToPath(new URL("../bin/strata.js", import.meta.url));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall-clock time from spawn to exit. */
  seconds: number;
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  allowFail?: boolean;
}

/** Hides URLs' hosts (apt and mmdebstrap name the mirror in their messages). */
export function redact(text: string): string {
  return text.replace(/\b(https?|ftp):\/\/[^/\s'"]+/g, "$1://<mirror>");
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    const tail = redact(`${result.stderr}\n${result.stdout}`).trim().split("\n").slice(-8).join("\n");
    super(`${command} exited ${result.code}\n${tail}`);
  }
}

/** Children still running, so an interrupted bench can end them (and only them). */
const live = new Set<ChildProcess>();

/** Kills the children this bench started that are still running. */
export function killChildren(): void {
  for (const child of live) child.kill("SIGTERM");
}

/** Runs a command to its end, capturing its output, and times it. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    live.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => err.push(d));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      live.delete(child);
      const result: RunResult = {
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        seconds: (performance.now() - started) / 1000,
      };
      if (result.code !== 0 && !opts.allowFail) reject(new CommandError(`${cmd} ${args.join(" ")}`, result));
      else resolve(result);
    });
  });
}

/** Runs a shell snippet (for pipelines). */
export function sh(script: string, opts: RunOptions = {}): Promise<RunResult> {
  return run("sh", ["-c", script], opts);
}

/** Runs the compiled CLI as users do: `node bin/strata.js ...`. */
export function strata(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(process.execPath, [STRATA_BIN, ...args], opts);
}

export interface Sample {
  n: number;
  median: number;
  min: number;
  max: number;
}

export function sample(values: number[]): Sample {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { n: sorted.length, median, min: sorted[0], max: sorted[sorted.length - 1] };
}

/**
 * Times `n` runs of `body` (each returns the seconds it measured), running `before` untimed ahead
 * of each one.
 */
export async function repeat(
  n: number,
  body: () => Promise<number>,
  before?: () => Promise<void>,
): Promise<Sample> {
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    if (before) await before();
    values.push(await body());
  }
  return sample(values);
}

/** Runs `fn` over `items` with at most `limit` at a time. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export interface Arm {
  /** Untimed preparation before each run of this arm. */
  before?: () => Promise<void>;
  /** One timed run; returns the seconds it measured. */
  body: () => Promise<number>;
}

/**
 * Runs the arms in turn, `n` rounds (A B A B ...), so that load from elsewhere on the machine
 * drifts over all of them alike and their ratios stay fair.
 */
export async function interleave(n: number, arms: Arm[]): Promise<Sample[]> {
  const values: number[][] = arms.map(() => []);
  for (let i = 0; i < n; i++) {
    for (const [k, arm] of arms.entries()) {
      if (arm.before) await arm.before();
      values[k].push(await arm.body());
    }
  }
  return values.map(sample);
}

/**
 * Runs one section alone when `moduleUrl` is the script node was started with
 * (`node --import tsx bench/SECTION.ts`): its Markdown on stdout, its work directory removed after.
 */
export async function runSectionAlone(
  moduleUrl: string,
  name: string,
  section: (work: string) => Promise<string>,
) {
  if (process.argv[1] !== fileURLToPath(moduleUrl)) return;
  const work = await mkdtemp(join(tmpdir(), `strata-bench-${name}-`));
  try {
    process.stdout.write(`${await section(work)}\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
