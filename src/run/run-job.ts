import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { hostDebianArch } from "../debian/sources.js";
import type { RunOutcome, RunRecord } from "../fleet/runs.js";
import { artifactImages, type Image, imageDescriptor } from "../oci/image.js";
import { archiveKind } from "../oci/locations/docker-archive.js";
import { readLocation } from "../oci/locations/locations.js";
import { sourceLocation } from "../oci/locations/name.js";
import { chooseImage, platformText } from "../oci/platform.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { StrataError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { JobCgroup } from "./job-cgroup.js";
import { jobProcess, type ProcessFlags } from "./job-process.js";
import { LayerStore, type StoreEvent } from "./layer-store.js";
import { composeRootfs, type Rootfs } from "./rootfs.js";
import { checkMappable, runHost } from "./run-host.js";
import { deleteContainer, runBundle } from "./runc.js";
import { type BindMount, runtimeConfig } from "./runtime-config.js";
import { runDirName, sweepDeadRuns } from "./stale-runs.js";

/**
 * `strata run`: an image from any location run as a job. The image is resolved to one manifest
 * (a tag first to its digest, an index to the host's platform), its layers taken from the store
 * (unpacked once per diff_id), composed with overlayfs, and run by runc from a config strata
 * writes; the result is a run record, which the caller stores in the fleet index.
 */

export interface RunJobOptions extends ProcessFlags {
  image: string;
  platform?: string;
  mounts: BindMount[];
  timeoutMs?: number;
  memoryBytes?: number;
  cpus?: number;
  network: "none" | "host";
  writable: boolean;
  name?: string;
  cacheDir: string;
  registry?: RegistryClientOptions;
}

export type RunEvent =
  | StoreEvent
  | { kind: "resolved"; digest: string; platform: string }
  | { kind: "unpacked"; layers: number; of: number }
  | { kind: "fallback"; why: string };

export interface JobResult {
  record: RunRecord;
  image: Image;
  /** Layers this run unpacked (0 when every layer was in the store). */
  unpackedLayers: number;
  rootfs: Rootfs["how"];
  oomKilled: boolean;
}

async function resolveImage(opts: RunJobOptions): Promise<Image> {
  const location = await sourceLocation(opts.image, archiveKind);
  const artifact = await readLocation(location, { registry: opts.registry });
  if (artifact.kind === "image") return chooseImage([artifact.image], opts.platform, "");
  return chooseImage(artifactImages(artifact), opts.platform ?? hostDebianArch(), "");
}

function outcomeOf(exit: { timedOut: boolean; signalled: boolean }, oom: boolean): RunOutcome {
  if (exit.timedOut) return "timeout";
  if (oom) return "oom";
  return exit.signalled ? "signal" : "exited";
}

function checkName(name: string | undefined): void {
  if (name === undefined || /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) return;
  throw new StrataError("USAGE", `--name ${name.slice(0, 80)}: not a name`, {
    hint: "use letters, digits, '.', '_' and '-' (at most 63, starting with a letter or digit)",
  });
}

export async function runJob(opts: RunJobOptions, onEvent: (e: RunEvent) => void): Promise<JobResult> {
  checkName(opts.name);
  const host = runHost(opts);
  const image = await resolveImage(opts);
  const digest = imageDescriptor(image).digest;
  onEvent({ kind: "resolved", digest, platform: platformText(image) });
  const store = new LayerStore(join(opts.cacheDir, "layers-unpacked"), onEvent);
  const layers = await store.layersOf(image, opts.image);
  const unpackedLayers = layers.filter((l) => l.unpacked).length;
  onEvent({ kind: "unpacked", layers: unpackedLayers, of: layers.length });

  const id = `${opts.name ?? "strata"}-${randomBytes(6).toString("hex")}`;
  await sweepDeadRuns(join(opts.cacheDir, "runs"), host.runcArgs, host.rootless);
  const runDir = join(opts.cacheDir, "runs", runDirName(id));
  await mkdir(runDir, { recursive: true, mode: 0o700 });
  let rootfs: Rootfs | undefined;
  const cgroup = host.rootless ? undefined : await JobCgroup.create(id);
  try {
    rootfs = await composeRootfs(layers, runDir, !host.rootless);
    if (rootfs.fallback && !host.rootless) onEvent({ kind: "fallback", why: rootfs.fallback });
    const proc = await jobProcess(image.config, rootfs.path, opts);
    checkMappable(host, proc.user);
    const config = runtimeConfig(proc, {
      ...opts,
      cgroupsPath: cgroup?.jobPath,
      hostname: opts.name ?? "strata",
      ...(host.rootless ? { rootless: host } : {}),
    });
    await writeFileAtomic(join(runDir, "config.json"), JSON.stringify(config));
    const startedAt = Date.now();
    const exit = await runBundle(runDir, id, opts.timeoutMs, host.runcArgs);
    const endedAt = Date.now();
    const oomKilled = !exit.timedOut && (cgroup?.oomKilled(exit.status, opts.memoryBytes) ?? false);
    const record: RunRecord = {
      id,
      name: opts.name ?? "",
      image: opts.image,
      digest,
      platform: platformText(image),
      args: proc.args,
      user: `${proc.user.uid}:${proc.user.gid}`,
      runBy: `${userInfo().username} (${process.getuid?.() ?? "?"})`,
      startedAt,
      endedAt,
      exitCode: exit.status,
      outcome: outcomeOf(exit, oomKilled),
      peakMemoryBytes: cgroup?.peakMemory() ?? null,
    };
    return { record, image, unpackedLayers, rootfs: rootfs.how, oomKilled };
  } finally {
    await deleteContainer(id, host.runcArgs);
    cgroup?.remove();
    if (rootfs) await rootfs.release();
    else await rm(runDir, { recursive: true, force: true });
  }
}
