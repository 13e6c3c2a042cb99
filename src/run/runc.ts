import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { StrataError } from "../util/errors.js";

/**
 * Runs a bundle with runc in the foreground: the job's stdout and stderr are strata's own, so they
 * stream as the job writes them. A timeout kills the whole container (runc kill ... KILL); strata's
 * own SIGINT and SIGTERM are passed on to the job.
 */

const execFileAsync = promisify(execFile);

export interface RuncExit {
  /** The job's exit status, or 128 + the signal that ended it, as a shell reports it. */
  status: number;
  timedOut: boolean;
  signalled: boolean;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

async function kill(runcArgs: string[], id: string, signal: string): Promise<void> {
  await execFileAsync("runc", [...runcArgs, "kill", id, signal]).catch(() => undefined);
}

/** Runs container `id` from `bundle`; `runcArgs` are runc's global flags (a state directory without root). */
export function runBundle(
  bundle: string,
  id: string,
  timeoutMs: number | undefined,
  runcArgs: string[] = [],
): Promise<RuncExit> {
  return new Promise((resolve, reject) => {
    const child = spawn("runc", [...runcArgs, "run", "--bundle", bundle, id], {
      stdio: ["inherit", "inherit", "inherit"],
    });
    let timedOut = false;
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            void kill(runcArgs, id, "KILL");
          }, timeoutMs);
    const forward = (signal: NodeJS.Signals) => void kill(runcArgs, id, signal === "SIGINT" ? "INT" : "TERM");
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    const done = () => {
      if (timer) clearTimeout(timer);
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
    };
    child.on("error", (err) => {
      done();
      reject(
        new StrataError("IO", `cannot start runc: ${(err as NodeJS.ErrnoException).code ?? err.message}`, {
          hint: "install runc (apt-get install runc)",
        }),
      );
    });
    child.on("close", (code, signal) => {
      done();
      const status = code ?? 128 + (SIGNALS[signal ?? ""] ?? 9);
      resolve({ status: timedOut ? 124 : status, timedOut, signalled: status > 128 });
    });
  });
}

/** Removes what runc keeps of a container that did not end cleanly. */
export async function deleteContainer(id: string, runcArgs: string[] = []): Promise<void> {
  await execFileAsync("runc", [...runcArgs, "delete", "--force", id]).catch(() => undefined);
}
