import { chunked, type Db, placeholders } from "../database/db.js";
import { byIds, type IndexedImage, type IndexedPackage, imagesIn, packagesWhere } from "./lookups.js";

/**
 * The indexed images that running containers run, for all of them at once (`strata ps`): a few
 * statements however many containers, not a few per container. A container is known by the
 * manifest or config digests its runtime reports, else by the whole list of its layers' diff_ids.
 */

export interface RunningImageKey {
  /** Manifest or config digests, the likeliest first. */
  digests: string[];
  /** The layers' diff_ids, bottom first ([] when the runtime does not report them). */
  diffIds: string[];
}

export interface RunningImage {
  image: IndexedImage;
  /** What named it: a manifest, a config (image ID), or the layers' diff_ids. */
  by: "manifest" | "config" | "diff_ids";
  packages: IndexedPackage[];
}

/** Manifest ids by manifest digest and by config digest (the first by digest when several share a config). */
async function byDigests(
  db: Db,
  digests: string[],
): Promise<{ manifests: Map<string, number>; configs: Map<string, number> }> {
  const manifests = new Map<string, number>();
  const configs = new Map<string, number>();
  for (const chunk of chunked(digests)) {
    const list = placeholders(chunk.length);
    const rows = await db.all<{ id: number; digest: string; config_digest: string }>(
      `SELECT id, digest, config_digest FROM manifests
        WHERE digest IN (${list}) OR config_digest IN (${list}) ORDER BY digest`,
      [...chunk, ...chunk],
    );
    for (const r of rows) {
      manifests.set(r.digest, Number(r.id));
      if (!configs.has(r.config_digest)) configs.set(r.config_digest, Number(r.id));
    }
  }
  return { manifests, configs };
}

/** The diff_ids list as one key. */
const stackKey = (diffIds: string[]) => diffIds.join(" ");

/**
 * Manifest ids by their whole diff_id list, for these lists: the candidates are the images with
 * the list's top layer at its place and no layer above it, so a base layer that most of a fleet
 * holds does not bring the fleet's stacks along.
 */
async function byStacks(db: Db, stacks: string[][]): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  for (const chunk of chunked(stacks, 1000)) {
    const tops = chunk.map(
      () =>
        "(l.diff_id = ? AND ml.position = ? AND NOT EXISTS (SELECT 1 FROM manifest_layers a WHERE a.manifest_id = ml.manifest_id AND a.position = ?))",
    );
    const rows = await db.all<{ manifest_id: number; diff_id: string }>(
      `SELECT s.manifest_id, sl.diff_id FROM manifest_layers s JOIN layers sl ON sl.id = s.layer_id
        JOIN manifests m ON m.id = s.manifest_id
        WHERE s.manifest_id IN (SELECT ml.manifest_id FROM manifest_layers ml JOIN layers l ON l.id = ml.layer_id
                                 WHERE ${tops.join(" OR ")})
        ORDER BY m.digest, s.position`,
      chunk.flatMap((ids) => [ids[ids.length - 1], ids.length - 1, ids.length]),
    );
    const lists = new Map<number, string[]>();
    for (const r of rows) {
      const id = Number(r.manifest_id);
      lists.set(id, [...(lists.get(id) ?? []), r.diff_id]);
    }
    for (const [id, list] of lists) if (!found.has(stackKey(list))) found.set(stackKey(list), id);
  }
  return found;
}

/** For each key, the indexed image it names with its packages, or undefined. */
export async function runningImages(db: Db, keys: RunningImageKey[]): Promise<(RunningImage | undefined)[]> {
  const { manifests, configs } = await byDigests(db, [...new Set(keys.flatMap((k) => k.digests))]);
  const viaDigest = keys.map((k) => {
    for (const d of k.digests) {
      const id = manifests.get(d) ?? configs.get(d);
      if (id !== undefined) return { id, by: manifests.has(d) ? ("manifest" as const) : ("config" as const) };
    }
    return undefined;
  });
  const unmatched = keys.filter((k, i) => viaDigest[i] === undefined && k.diffIds.length > 0);
  const stacks = await byStacks(db, [
    ...new Map(unmatched.map((k) => [stackKey(k.diffIds), k.diffIds])).values(),
  ]);
  const matches = keys.map((k, i) => {
    const id = k.diffIds.length > 0 ? stacks.get(stackKey(k.diffIds)) : undefined;
    return viaDigest[i] ?? (id === undefined ? undefined : { id, by: "diff_ids" as const });
  });
  const ids = [...new Set(matches.flatMap((m) => (m ? [m.id] : [])))];
  const images = new Map<number, IndexedImage>();
  const packages = new Map<number, IndexedPackage[]>();
  for (const chunk of chunked(ids)) {
    for (const [id, image] of await imagesIn(db, byIds(chunk))) images.set(id, image);
    const where = `ip.manifest_id IN (${placeholders(chunk.length)})`;
    for (const [id, list] of await packagesWhere(db, where, chunk)) packages.set(id, list);
  }
  return matches.map((m) => {
    const image = m && images.get(m.id);
    return m && image ? { image, by: m.by, packages: packages.get(m.id) ?? [] } : undefined;
  });
}
