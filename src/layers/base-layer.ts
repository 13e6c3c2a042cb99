import type { Accounts } from "../debian/accounts.js";
import { baseLayerEntries, rootedPath } from "../debian/base-root.js";
import type { Compression } from "../oci/compress.js";
import type { LayerEntry } from "../oci/layer-entry.js";
import { type LayerBlob, writeLayer } from "./write-layer.js";

/**
 * The base layer (the skeleton a Debian root has before any package, src/debian/base-root.ts) and
 * the "files" layer (user files, CA bundle...). Both are
 * in-memory entries written by writeLayer, the same canonical writer as package layers.
 */

export interface EntriesLayerInput {
  /** Paths may start with "/" (taken from the image root); otherwise as LayerEntry. */
  entries: LayerEntry[];
  store: string;
  epoch: number;
  compression: Compression;
  /** The cache root where the layer's SBOM details are kept as it is written; none: not kept. */
  cacheRoot?: string;
}

export interface BaseLayerInput {
  /** Debian architecture, e.g. "amd64"; decides the lib* symlinks. */
  architecture: string;
  /**
   * Further merged directories to link, e.g. ["lib32"] when a multilib package ships /lib32 files
   * (package layers put them under usr/lib32, so /lib32 must lead there).
   */
  extraMergedDirs?: string[];
  accounts: Accounts;
  store: string;
  epoch: number;
  compression: Compression;
  /** The cache root where the layer's SBOM details are kept as it is written; none: not kept. */
  cacheRoot?: string;
}

/** Builds a layer from in-memory entries: the "files" layer, and the base layer below. */
export async function buildEntriesLayer(input: EntriesLayerInput): Promise<LayerBlob> {
  const entries = input.entries.map((e) => ({ ...e, path: rootedPath(e.path, "files") }));
  return writeLayer(entries, { ...input, what: "files" });
}

/**
 * The entries plus their parent directories as the layers below have them (`below` answers a
 * directory's entry), with their mode and owner: a parent the layer writer made up (0755 root)
 * would replace /tmp's 1777, /var/lock's 1777 or a home's owner.
 */
export function withParentsFrom(
  entries: LayerEntry[],
  below: (dir: string) => LayerEntry | undefined,
): LayerEntry[] {
  const paths = new Set(entries.map((e) => rootedPath(e.path, "files")));
  const parents = new Map<string, LayerEntry>();
  for (const path of paths) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const known = below(dir);
      if (known?.type === "dir" && !paths.has(dir)) parents.set(dir, { ...known, path: dir });
    }
  }
  return [...entries, ...parents.values()];
}

export async function buildBaseLayer(input: BaseLayerInput): Promise<LayerBlob> {
  const entries = baseLayerEntries(input.architecture, input.accounts, input.extraMergedDirs);
  return buildEntriesLayer({ ...input, entries });
}
