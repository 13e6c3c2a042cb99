import type { ProcessUser } from "./image-user.js";
import type { IdMapping } from "./run-host.js";

/**
 * The OCI runtime config (config.json) runc runs a job from: the process as the image and flags
 * say, the namespaces a container gets (its own network unless `host`), a read-only root with a
 * tmpfs /tmp unless the run asks for a writable one, Docker's default capabilities, and cgroup
 * limits. Only runtime-spec 1.0 fields Debian's runc 1.1 reads.
 */

export interface BindMount {
  source: string;
  destination: string;
  readOnly: boolean;
}

export interface JobProcess {
  args: string[];
  env: string[];
  user: ProcessUser;
  cwd: string;
}

export interface JobSettings {
  network: "none" | "host";
  writable: boolean;
  memoryBytes?: number;
  cpus?: number;
  mounts: BindMount[];
  /** The job's cgroup, under one strata made so its peak memory can be read after runc removes this (root only). */
  cgroupsPath?: string;
  hostname: string;
  /** Without root: the user namespace's id maps (runc's rootless mode). */
  rootless?: { uidMappings: IdMapping[]; gidMappings: IdMapping[] };
}

/** Docker's and podman's default capability set, which images expect. */
export const DEFAULT_CAPABILITIES = [
  "AUDIT_WRITE",
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "FSETID",
  "KILL",
  "MKNOD",
  "NET_BIND_SERVICE",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID",
  "SYS_CHROOT",
].map((c) => `CAP_${c}`);

const MASKED = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
];
const READONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];
const CPU_PERIOD_US = 100_000;

/** As `runc spec` (and `runc spec --rootless`, which cannot mount sysfs or give devpts a gid) writes them. */
function systemMounts(writable: boolean, rootless: boolean) {
  const devpts = [
    "nosuid",
    "noexec",
    "newinstance",
    "ptmxmode=0666",
    "mode=0620",
    ...(rootless ? [] : ["gid=5"]),
  ];
  const sys = rootless
    ? {
        destination: "/sys",
        type: "none",
        source: "/sys",
        options: ["rbind", "nosuid", "noexec", "nodev", "ro"],
      }
    : { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] };
  const mounts = [
    { destination: "/proc", type: "proc", source: "proc" },
    {
      destination: "/dev",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    { destination: "/dev/pts", type: "devpts", source: "devpts", options: devpts },
    {
      destination: "/dev/shm",
      type: "tmpfs",
      source: "shm",
      options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
    },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    sys,
  ];
  if (!writable) {
    mounts.push({
      destination: "/tmp",
      type: "tmpfs",
      source: "tmpfs",
      options: ["nosuid", "nodev", "mode=1777"],
    });
  }
  return mounts;
}
function resources(settings: JobSettings) {
  const out: Record<string, unknown> = { devices: [{ allow: false, access: "rwm" }] };
  if (settings.memoryBytes !== undefined) out.memory = { limit: settings.memoryBytes };
  if (settings.cpus !== undefined) {
    out.cpu = { quota: Math.max(1000, Math.round(settings.cpus * CPU_PERIOD_US)), period: CPU_PERIOD_US };
  }
  return out;
}

function linux(settings: JobSettings) {
  const { rootless } = settings;
  const namespaces = ["pid", "ipc", "uts", "mount", ...(settings.network === "none" ? ["network"] : [])];
  return {
    ...(rootless ? { uidMappings: rootless.uidMappings, gidMappings: rootless.gidMappings } : {}),
    ...(settings.cgroupsPath ? { cgroupsPath: settings.cgroupsPath, resources: resources(settings) } : {}),
    namespaces: [...namespaces, ...(rootless ? ["user"] : [])].map((type) => ({ type })),
    maskedPaths: MASKED,
    readonlyPaths: READONLY,
  };
}

export function runtimeConfig(process: JobProcess, settings: JobSettings) {
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: false,
      user: { uid: process.user.uid, gid: process.user.gid },
      args: process.args,
      env: process.env,
      cwd: process.cwd,
      capabilities: {
        bounding: DEFAULT_CAPABILITIES,
        effective: DEFAULT_CAPABILITIES,
        permitted: DEFAULT_CAPABILITIES,
      },
      rlimits: [{ type: "RLIMIT_NOFILE", hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: "rootfs", readonly: !settings.writable },
    hostname: settings.hostname,
    mounts: [
      ...systemMounts(settings.writable, settings.rootless !== undefined),
      ...settings.mounts.map((m) => ({
        destination: m.destination,
        type: "bind",
        source: m.source,
        options: ["rbind", "nosuid", "nodev", m.readOnly ? "ro" : "rw"],
      })),
    ],
    linux: linux(settings),
  };
}
