import { existsSync, readdirSync, readFileSync, rmdirSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";

/**
 * The cgroup a job runs in. runc removes the job's own cgroup when the job ends, taking its
 * counters with it, so the job runs one level below a parent strata makes: the parent's memory
 * high-water mark (cgroup v2 `memory.peak`, v1 `memory.max_usage_in_bytes`) counts the job's, and
 * outlives it until strata removes the parent.
 */

const CGROUP_ROOT = "/sys/fs/cgroup";
/** How close to its limit a v1 job's peak must be for a SIGKILL to count as the OOM killer's. */
const V1_OOM_MARGIN = 1 << 20;

function unified(): boolean {
  return existsSync(join(CGROUP_ROOT, "cgroup.controllers"));
}

function readNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isSafeInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export class JobCgroup {
  private constructor(private readonly parent: string) {}

  /** Makes the parent cgroup for job `id` (a name of strata's own: letters, digits and dashes); root only. */
  static async create(id: string): Promise<JobCgroup> {
    const parent = `strata-${id}`;
    const memory = unified() ? CGROUP_ROOT : join(CGROUP_ROOT, "memory");
    if (existsSync(memory)) await mkdir(join(memory, parent)).catch(() => undefined);
    return new JobCgroup(parent);
  }

  /** The cgroup of a run whose strata is gone, to remove what it left. */
  static forgotten(id: string): JobCgroup {
    return new JobCgroup(`strata-${id}`);
  }

  /** What runc's linux.cgroupsPath names: the job's cgroup, below the parent. */
  get jobPath(): string {
    return `/${this.parent}/job`;
  }

  /** The most memory the job used, in bytes, when the kernel keeps the count. */
  peakMemory(): number | undefined {
    if (unified()) return readNumber(join(CGROUP_ROOT, this.parent, "memory.peak"));
    return readNumber(join(CGROUP_ROOT, "memory", this.parent, "memory.max_usage_in_bytes"));
  }

  /**
   * Whether the kernel's OOM killer ended the job: v2 counts OOM kills of the whole subtree in the
   * parent's memory.events. v1 counts them only in the job's own cgroup, which runc has removed by
   * now, so there a SIGKILL (status 137) with the peak at the limit is taken for one.
   */
  oomKilled(status: number, limitBytes: number | undefined): boolean {
    if (limitBytes === undefined) return false;
    if (!unified()) return status === 137 && (this.peakMemory() ?? 0) >= limitBytes - V1_OOM_MARGIN;
    try {
      const events = readFileSync(join(CGROUP_ROOT, this.parent, "memory.events"), "utf8");
      const match = /^oom_kill (\d+)$/m.exec(events);
      return match !== null && Number(match[1]) > 0;
    } catch {
      return false;
    }
  }

  /** Removes the parent from every hierarchy runc made it in (an empty cgroup is removed with rmdir). */
  remove(): void {
    const hierarchies = unified() ? [CGROUP_ROOT] : readdirSync(CGROUP_ROOT).map((h) => join(CGROUP_ROOT, h));
    for (const hierarchy of hierarchies) {
      for (const dir of [join(hierarchy, this.parent, "job"), join(hierarchy, this.parent)]) {
        try {
          rmdirSync(dir);
        } catch {
          // not made in this hierarchy, or already gone
        }
      }
    }
  }
}
