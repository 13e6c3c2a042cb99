import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
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
  /**
   * CPU (user + system) of the command and the children it waited for, from this process's
   * cutime/cstime: exact for commands run one at a time, mixed when several run at once.
   */
  cpu: number;
}

/** CPU seconds of this process's waited-for children so far (/proc/self/stat cutime + cstime). */
function childrenCpu(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After "(comm) ": state is field 3, so cutime (16) and cstime (17) are at 13 and 14 here.
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}
const CLOCK_TICKS = 100;

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
    const cpuBefore = childrenCpu();
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
        cpu: childrenCpu() - cpuBefore,
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
  /** The median CPU seconds of the runs, when they said. */
  cpu?: number;
}

/** One timed run: its wall-clock seconds, or those with its CPU seconds. */
export type Timed = number | { seconds: number; cpu: number };

const medianOf = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

export function sample(runs: Timed[]): Sample {
  const values = runs.map((r) => (typeof r === "number" ? r : r.seconds));
  const cpus = runs.flatMap((r) => (typeof r === "number" ? [] : [r.cpu]));
  const s: Sample = {
    n: values.length,
    median: medianOf(values),
    min: Math.min(...values),
    max: Math.max(...values),
  };
  return cpus.length === runs.length && cpus.length > 0 ? { ...s, cpu: medianOf(cpus) } : s;
}

/** A command's run as a Timed: wall and CPU. */
export const timed = (r: RunResult): Timed => ({ seconds: r.seconds, cpu: r.cpu });

/**
 * Times `n` runs of `body` (each returns the seconds it measured), running `before` untimed ahead
 * of each one.
 */
export async function repeat(
  n: number,
  body: () => Promise<Timed>,
  before?: () => Promise<void>,
): Promise<Sample> {
  const values: Timed[] = [];
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
  /** One timed run; returns the seconds it measured (and the CPU, when it can). */
  body: () => Promise<Timed>;
}

/**
 * Runs the arms in turn, `n` rounds (A B A B ...), so that load from elsewhere on the machine
 * drifts over all of them alike and their ratios stay fair.
 */
export async function interleave(n: number, arms: Arm[]): Promise<Sample[]> {
  const values: Timed[][] = arms.map(() => []);
  for (let i = 0; i < n; i++) {
    for (const [k, arm] of arms.entries()) {
      if (arm.before) await arm.before();
      values[k].push(await arm.body());
    }
  }
  return values.map(sample);
}
