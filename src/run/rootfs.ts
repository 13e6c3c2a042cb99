import { execFile } from "node:child_process";
import { lstat, mkdir, readdir, rm, symlink } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import type { LayerUse } from "./layer-store.js";

/**
 * A run's root file system: the store's layers as overlayfs lower directories (read-only, shared by
 * every run) under a throwaway upper directory, so nothing a job writes reaches the store. Where the
 * overlay mount fails (no overlayfs, a file system it cannot stack on), the layers are copied into
 * a private tree instead, and the caller is told why.
 */

const run = promisify(execFile);

export interface Rootfs {
  /** The directory runc uses as the container's root. */
  path: string;
  how: "overlay" | "copy";
  /** Why overlayfs was not used, when it was not. */
  fallback?: string;
  /** Unmounts and removes what the run made. */
  release(): Promise<void>;
}

function firstLine(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(err)).trim().split("\n")[0];
}

/**
 * The mount options name each layer by a short symlink (`l/12`) relative to the run directory, the
 * mount's cwd: a page (4096 bytes) of options then holds hundreds of layers, not the ~50 that full
 * store paths would allow.
 */
async function mountOverlay(layers: LayerUse[], runDir: string, target: string): Promise<void> {
  await mkdir(join(runDir, "l"));
  const lowers: string[] = [];
  for (const [i, layer] of layers.entries()) {
    await symlink(layer.root, join(runDir, "l", String(i)));
    lowers.unshift(`l/${i}`); // overlayfs lists the top layer first
  }
  await mkdir(join(runDir, "upper"));
  await mkdir(join(runDir, "work"));
  const options = `lowerdir=${lowers.join(":")},upperdir=upper,workdir=work`;
  await run("mount", ["-t", "overlay", "overlay", "-o", options, target], { cwd: runDir });
}

/** Bottom to top, as a runtime applies layers: whiteouts and opaque directories delete what is below. */
export async function copyLayers(layers: LayerUse[], target: string): Promise<void> {
  for (const layer of layers) {
    for (const dir of layer.opaque) {
      await rm(join(target, dir), { recursive: true, force: true });
      await mkdir(join(target, dir), { recursive: true });
    }
    for (const path of layer.whiteouts) await rm(join(target, path), { recursive: true, force: true });
    await removeRetyped(layer.root, target);
    await run("cp", ["-a", `${layer.root}/.`, target]);
    // cp copied the whiteouts themselves (0/0 character devices): they name what is gone.
    for (const path of layer.whiteouts) await rm(join(target, path), { recursive: true, force: true });
  }
}

/**
 * An entry of an upper layer replaces what is below it whatever its type (a files layer's link
 * `/var/run -> /run` over base-files' directory), but `cp -a` cannot put a link over a directory:
 * the lower path is removed first wherever the layer has the other kind (directory or not).
 */
async function removeRetyped(layerDir: string, targetDir: string): Promise<void> {
  for (const entry of await readdir(layerDir, { withFileTypes: true })) {
    const below = join(targetDir, entry.name);
    const stat = await lstat(below).catch(() => undefined);
    if (stat === undefined) continue;
    if (stat.isDirectory() !== entry.isDirectory()) await rm(below, { recursive: true, force: true });
    else if (entry.isDirectory()) await removeRetyped(join(layerDir, entry.name), below);
  }
}

/**
 * Composes `layers` (bottom first)/**
 * Composes `layers` (bottom first) under `runDir`, a fresh directory the run owns. `overlay: false`
 * (without root, where the mount is not allowed) copies them at once.
 */
export async function composeRootfs(layers: LayerUse[], runDir: string, overlay = true): Promise<Rootfs> {
  const path = join(runDir, "rootfs");
  await mkdir(path);
  const empty = join(runDir, "empty");
  await mkdir(empty);
  const stack =
    layers.length > 0 ? layers : [{ diffId: "", root: empty, unpacked: false, whiteouts: [], opaque: [] }];
  try {
    if (!overlay) throw new Error("only root can mount it here");
    await mountOverlay(stack, runDir, path);
    return { path, how: "overlay", release: () => unmount(runDir) };
  } catch (err) {
    const fallback = `overlayfs: ${firstLine(err)}`;
    await copyLayers(stack, path);
    return { path, how: "copy", fallback, release: () => rm(runDir, { recursive: true, force: true }) };
  }
}

async function unmount(runDir: string): Promise<void> {
  await unmountRootfs(runDir);
  await rm(runDir, { recursive: true, force: true });
}

/** Unmounts a run's root (when mounted). Lazy: a process still holding it must not keep the run dir. */
export async function unmountRootfs(runDir: string): Promise<void> {
  await run("umount", ["-l", join(runDir, "rootfs")]).catch(() => undefined);
}
