import { parseEnv, parseMount } from "../../run/job-process.js";
import { runAndRecord } from "../../run/run-and-record.js";
import type { JobResult, RunEvent } from "../../run/run-job.js";
import { cacheRoot } from "../../util/dirs.js";
import { StrataError } from "../../util/errors.js";
import { parseBytes, parseCpus, parseDuration } from "../../util/quantities.js";
import type { CommandDef } from "../command.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import { ExitStatus } from "../exit-status.js";
import { withIndexFlag } from "../index-flags.js";
import { formatBytes, type Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import { type CommonOptions, collect } from "./common.js";

interface RunFlags extends CommonOptions, RegistryFlags {
  platform?: string;
  env: string[];
  user?: string;
  workdir?: string;
  mount: string[];
  timeout?: string;
  memory?: string;
  cpus?: string;
  network: string;
  writable?: boolean;
  name?: string;
  index?: string;
  json?: boolean;
}

function eventLine(e: RunEvent): string | undefined {
  switch (e.kind) {
    case "resolved":
      return `running ${e.digest} (${e.platform})`;
    case "unpacked":
      return e.layers === 0 ? undefined : `unpacked ${e.layers} of ${e.of} layers into the store`;
    case "tampered":
      return `strata: warning: layer ${e.diffId} in the store changed since it was unpacked; unpacking it again`;
    case "fallback":
      return `strata: warning: ${e.why}; copying the layers instead (slower, and uses disk)`;
  }
}

function network(value: string): "none" | "host" {
  if (value === "none" || value === "host") return value;
  throw new StrataError("USAGE", `--network ${value}: not none or host`, {
    hint: "write --network none (the default) or --network host",
  });
}

function report(result: JobResult & { notRecorded?: string }, flags: RunFlags, out: Output): void {
  if (result.notRecorded !== undefined)
    out.line(`strata: warning: the run was not recorded: ${result.notRecorded}`);
  const r = result.record;
  if (r.outcome === "timeout") out.line(`strata: ${r.id} timed out after ${flags.timeout}; killed`);
  if (r.outcome === "oom") out.line(`strata: ${r.id} was killed: out of memory (--memory ${flags.memory})`);
  if (flags.json) {
    const peak = r.peakMemoryBytes === null ? "" : ` (${formatBytes(r.peakMemoryBytes)})`;
    out.line(`strata: ${r.id} exited ${r.exitCode}${peak}`);
    out.json({ ...r, unpackedLayers: result.unpackedLayers, rootfs: result.rootfs });
  }
}

async function run([image, args]: [string, string[]], flags: RunFlags, out: Output): Promise<void> {
  const opts = {
    image,
    args,
    platform: flags.platform,
    env: flags.env.map(parseEnv),
    user: flags.user,
    workdir: flags.workdir,
    mounts: await Promise.all(flags.mount.map(parseMount)),
    timeoutMs: flags.timeout === undefined ? undefined : parseDuration(flags.timeout, "--timeout"),
    memoryBytes: flags.memory === undefined ? undefined : parseBytes(flags.memory, "--memory"),
    cpus: flags.cpus === undefined ? undefined : parseCpus(flags.cpus, "--cpus"),
    network: network(flags.network),
    writable: Boolean(flags.writable),
    name: flags.name,
    cacheDir: cacheRoot(flags.cacheDir),
    registry: registryOptions(flags),
  };
  const result = await runAndRecord(opts, flags.index, (e) => {
    const line = eventLine(e);
    if (line) out.line(line);
  });
  report(result, flags, out);
  if (result.record.exitCode !== 0) throw new ExitStatus(result.record.exitCode);
}

export const command: CommandDef<RunFlags, [string, string[]]> = {
  name: "run",
  summary: "run an image as a job: layers unpacked once into a store, composed with overlayfs, run by runc",
  arguments: [
    { name: "<image>", description: "the image: a layout, an archive, oci:DIR[:TAG], docker://REF ..." },
    {
      name: "[args...]",
      description: "arguments after --, given to the entrypoint instead of the image's cmd",
    },
  ],
  options: (cmd) =>
    withIndexFlag(
      withRegistryFlags(
        cmd
          .option("--platform <platform>", "which image of a multi-platform index (default: the host's)")
          .option(
            "-e, --env <K=V>",
            "set an environment variable (repeatable; -e K takes K from here)",
            collect,
            [],
          )
          .option(
            "--user <user>",
            "run as NAME, UID, NAME:GROUP or UID:GID (names from the image's /etc/passwd)",
          )
          .option("--workdir <dir>", "the working directory in the container")
          .option(
            "--mount <src:dst[:ro]>",
            "bind-mount a host path into the container (repeatable)",
            collect,
            [],
          )
          .option("--timeout <duration>", "kill the job after this long (90s, 5m, 1h); exit status 124")
          .option("--memory <bytes>", "memory limit (256M, 1G); the kernel kills the job past it")
          .option("--cpus <n>", "CPU limit (1, 0.5)")
          .option("--network <mode>", "none (the default: only loopback) or host", "none")
          .option(
            "--writable",
            "a writable root (thrown away after the run) instead of read-only with a tmpfs /tmp",
          )
          .option("--name <name>", "a name for the run (its record, its container id)")
          .option("--json", "print the run record as JSON on stdout when the job ends"),
      ),
    ),
  notes: [
    "",
    "The exit status is the job's (124 when --timeout killed it). Every run is recorded in the fleet",
    "index (strata runs). Needs runc; without root it runs rootless (user namespaces; no --memory/--cpus).",
  ].join("\n"),
  examples: [
    "strata run oci:out/python3 -- -c 'print(1)'",
    "strata run docker://127.0.0.1:5000/app:1 --memory 256M --timeout 5m --mount ./data:/data:ro",
  ],
  handler: run,
};
