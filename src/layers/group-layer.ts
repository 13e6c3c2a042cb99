import type { PackageFacts } from "../effects/package-facts.js";
import type { LayerEntry } from "../oci/layer-entry.js";
import { BodySpool } from "../util/spool.js";
import { type PackageLayerInput, type PackageLayerRecord, packageEntries } from "./layer.js";
import type { LayerCache, LayerCacheKey } from "./layer-cache.js";
import { OverlapChecker, pathsOf } from "./overlaps.js";
import { writeLayer } from "./write-layer.js";

/**
 * One layer holding several packages (an image over its layer budget): the union of their entries,
 * written by the same canonical writer as single-package layers. A path two members ship follows
 * the same rule as between layers (allowed only with Replaces; the later member in name order wins).
 * Cached under `key` (the sorted sha256s of its members), so the same leftover set gives the same layer.
 */
export async function buildGroupLayer(
  inputs: PackageLayerInput[],
  cache: LayerCache,
  key: LayerCacheKey,
  arch: string,
): Promise<{ record: PackageLayerRecord; cached: boolean; overlaps: string[] }> {
  // The builder looked the key up already; groups are built only on a miss.
  const first = inputs[0];
  const byPath = new Map<string, LayerEntry>();
  const members: PackageFacts[] = [];
  const overlaps = new OverlapChecker(arch);
  const spool = new BodySpool(first.store);
  try {
    for (const input of inputs) {
      const { entries, facts } = await packageEntries(input, spool);
      members.push(facts);
      overlaps.add([facts], pathsOf(entries));
      for (const entry of entries) {
        if (entry.type === "dir" && byPath.has(entry.path)) continue;
        byPath.set(entry.path, entry);
      }
    }
    const blob = await writeLayer([...byPath.values()], {
      ...first,
      what: `group of ${inputs.length} packages`,
    });
    const record: PackageLayerRecord = { ...blob, members };
    await cache.put(key, record);
    return { record, cached: false, overlaps: overlaps.notes };
  } finally {
    await spool.remove();
  }
}
