import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const STRATA_BIN = fileURLToPath(new URL("../../bin/strata.js", import.meta.url));

// strata's data directory (the default fleet index, where `strata run` records runs) is a temp dir
// of this test process, never the user's: a test must not read what another left there.
process.env.XDG_DATA_HOME = mkdtempSync(join(tmpdir(), "strata-test-data-"));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI (the compiled one, as users run it) in `cwd` with extra environment. */
export function runStrata(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string> } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [STRATA_BIN, ...args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * Asserts that a run failed as strata's contract says: exit 1, one `strata: error:` line matching
 * `pattern` (and at most a hint), never a stack trace.
 */
export function assertOneLineError(r: RunResult, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  const errors = r.stderr.split("\n").filter((l) => l.startsWith("strata: error: "));
  assert.equal(errors.length, 1, r.stderr);
  assert.match(errors[0], pattern);
  assert.doesNotMatch(r.stderr, /^\s+at |internal error/m, "no stack trace reaches the user");
}

/** An environment whose strata cache and data (the fleet index) are a fresh temp dir, not the user's. */
export async function isolatedEnv(): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(tmpdir(), "strata-home-"));
  return { XDG_CACHE_HOME: join(dir, "cache"), XDG_DATA_HOME: join(dir, "data"), STRATA_CACHE_DIR: "" };
}
