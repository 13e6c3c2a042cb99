import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { isAlive } from "../oci/placement.js";
import { JobCgroup } from "./job-cgroup.js";
import { unmountRootfs } from "./rootfs.js";
import { deleteContainer } from "./runc.js";

/**
 * A run's directory is named `ID.pid-PID` after the strata process that owns it. A strata killed
 * mid-run (SIGKILL, a crash) leaves its overlay mount, runc's state and its cgroup behind; the next
 * run sweeps those of every owner that is gone.
 */

const RUN_DIR = /^([A-Za-z0-9][A-Za-z0-9_.-]*)\.pid-(\d+)$/;

export function runDirName(id: string): string {
  return `${id}.pid-${process.pid}`;
}

export async function sweepDeadRuns(runsDir: string, runcArgs: string[], rootless: boolean): Promise<void> {
  const names = await readdir(runsDir).catch(() => [] as string[]);
  for (const name of names) {
    const m = RUN_DIR.exec(name);
    if (!m || isAlive(Number(m[2]))) continue;
    await deleteContainer(m[1], runcArgs);
    if (!rootless) JobCgroup.forgotten(m[1]).remove();
    await unmountRootfs(join(runsDir, name));
    await rm(join(runsDir, name), { recursive: true, force: true });
  }
}
