import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** podman as root, isolated in temp storage under `root`, with the flags design.md §4 gives for this machine. */
export function podman(root: string, ...args: string[]) {
  const base = [
    "--root",
    join(root, "storage"),
    "--runroot",
    join(root, "run"),
    "--storage-driver",
    "vfs",
    "--cgroup-manager",
    "cgroupfs",
    "--events-backend",
    "file",
    "--runtime",
    "runc",
  ];
  return exec("podman", [...base, ...args], { maxBuffer: 1 << 24 });
}
