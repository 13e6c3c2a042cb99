import { readFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { StrataError } from "../util/errors.js";

/**
 * What this host lets a run do. As root: everything (overlayfs, cgroups, owners kept). Without root,
 * where the kernel allows user namespaces: runc's rootless mode, the caller's uid mapped to root in
 * the container and, when /etc/subuid and /etc/subgid give the caller a range, the image's other ids
 * to that range (runc writes such maps with newuidmap/newgidmap); no cgroups, so no --memory or
 * --cpus; layers copied, since only root can mount overlayfs here. Anything missing is named.
 */

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface RunHost {
  rootless: boolean;
  /** runc's global flags: a state directory of the caller's own without root. */
  runcArgs: string[];
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Why the kernel refuses unprivileged user namespaces, or undefined when it allows them. */
function userNamespacesMissing(): string | undefined {
  const max = readText("/proc/sys/user/max_user_namespaces")?.trim();
  if (max === undefined)
    return "this kernel has no user namespaces (/proc/sys/user/max_user_namespaces is missing)";
  if (max === "0") return "user namespaces are turned off (user.max_user_namespaces = 0)";
  if (readText("/proc/sys/kernel/unprivileged_userns_clone")?.trim() === "0") {
    return "unprivileged user namespaces are turned off (kernel.unprivileged_userns_clone = 0)";
  }
  if (readText("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")?.trim() === "1") {
    return "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1)";
  }
  return undefined;
}

/** The caller's subordinate range in /etc/subuid or /etc/subgid (by name or number), if any. */
function subordinate(file: string, name: string, id: number): { start: number; count: number } | undefined {
  for (const line of (readText(file) ?? "").split("\n")) {
    const [who, start, count] = line.trim().split(":");
    if ((who === name || who === String(id)) && /^\d+$/.test(start ?? "") && /^\d+$/.test(count ?? "")) {
      return { start: Number(start), count: Number(count) };
    }
  }
  return undefined;
}

function mappings(id: number, range: { start: number; count: number } | undefined): IdMapping[] {
  const own = { containerID: 0, hostID: id, size: 1 };
  return range ? [own, { containerID: 1, hostID: range.start, size: range.count }] : [own];
}

export function runHost(limits: { memoryBytes?: number; cpus?: number }): RunHost {
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return { rootless: false, runcArgs: [], uidMappings: [], gidMappings: [] };
  const missing = userNamespacesMissing();
  if (missing) {
    throw new StrataError("USAGE", `strata run without root needs user namespaces, and ${missing}`, {
      hint: "run it as root, or ask the machine's administrator to allow unprivileged user namespaces",
    });
  }
  if (limits.memoryBytes !== undefined || limits.cpus !== undefined) {
    throw new StrataError(
      "USAGE",
      "--memory and --cpus need a cgroup, and without root strata cannot make one here",
      {
        hint: "run it as root to limit the job, or leave out --memory and --cpus",
      },
    );
  }
  const gid = process.getgid?.() ?? 0;
  const name = userInfo().username;
  return {
    rootless: true,
    runcArgs: ["--root", join(process.env.XDG_RUNTIME_DIR || tmpdir(), `strata-runc-${uid}`)],
    uidMappings: mappings(uid, subordinate("/etc/subuid", name, uid)),
    gidMappings: mappings(gid, subordinate("/etc/subgid", name, gid)),
  };
}

function mapped(id: number, maps: IdMapping[]): boolean {
  return maps.some((m) => id >= m.containerID && id < m.containerID + m.size);
}

/** Refuses a process user the rootless mappings cannot hold, saying how to give the caller a range. */
export function checkMappable(host: RunHost, user: { uid: number; gid: number }): void {
  if (!host.rootless || (mapped(user.uid, host.uidMappings) && mapped(user.gid, host.gidMappings))) return;
  const name = userInfo().username;
  throw new StrataError(
    "USAGE",
    `the job runs as ${user.uid}:${user.gid}, and without root only your own ids (and a range of /etc/subuid and /etc/subgid) can be mapped into it`,
    {
      hint: `give ${name} a range (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${name}), or run it as --user 0`,
    },
  );
}
