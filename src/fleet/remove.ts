import type { Db, SqlValue } from "../database/db.js";
import { countChange } from "../database/generations.js";
import {
  type IndexedImage,
  type IndexedRef,
  imagesIn,
  type Selection,
  SUPERSEDED_IMAGES,
} from "./lookups.js";

/**
 * Removing images: refs go first; a manifest the removed refs named that no ref names any more goes
 * with its layer list, and a layer no image holds goes with its package rows. (Package rows
 * themselves stay: they are a few bytes each and other tables may name them.) Images superseded
 * before (a tag moved away from them) are left to `pruneSuperseded`.
 */

export type RemoveTarget = { digest: string } | { ref: IndexedRef };

export interface RemoveResult {
  /** Names (refs) removed. */
  refs: number;
  /** Images that left the index, no name being left to them. */
  images: number;
}

/** The refs a target names, as SQL over `refs` and its parameters. */
function refsOf(target: RemoveTarget): { where: string; params: SqlValue[] } {
  if ("digest" in target)
    return {
      where: "manifest_id IN (SELECT id FROM manifests WHERE digest = ? OR config_digest = ?)",
      params: [target.digest, target.digest],
    };
  const { registry, repository, tag } = target.ref;
  // No tag: every tag of the repository.
  return tag === ""
    ? { where: "registry = ? AND repository = ?", params: [registry, repository] }
    : { where: "registry = ? AND repository = ? AND tag = ?", params: [registry, repository, tag] };
}

/** Removes what `target` names. */
export async function removeImages(db: Db, target: RemoveTarget): Promise<RemoveResult> {
  return db.transaction(async (tx) => {
    const { where, params } = refsOf(target);
    // The images only these refs name: they leave with them (evaluated while the refs are there).
    const unnamedByThis: Selection = {
      sql: `SELECT id FROM manifests m
             WHERE EXISTS (SELECT 1 FROM refs WHERE refs.manifest_id = m.id AND (${where}))
               AND NOT EXISTS (SELECT 1 FROM refs WHERE refs.manifest_id = m.id AND NOT (${where}))`,
      params: [...params, ...params],
    };
    const counted = await tx.get<{ n: number }>(`SELECT COUNT(*) AS n FROM refs WHERE ${where}`, params);
    const images = await collectGarbage(tx, unnamedByThis);
    // Counted first: removing a manifest may already have taken its refs (ON DELETE CASCADE).
    await tx.run(`DELETE FROM refs WHERE ${where}`, params);
    const refs = Number(counted?.n ?? 0);
    if ("ref" in target) await tx.run(`DELETE FROM sync_tags WHERE ${where}`, params);
    await countChange(tx, "images");
    return { refs, images };
  });
}

/** What `index prune` removed: the superseded images, and the layers no image holds any more. */
export interface PruneResult {
  images: IndexedImage[];
  layers: number;
}

/** Removes every superseded image (no ref names it), and what only they held. */
export async function pruneSuperseded(db: Db): Promise<PruneResult> {
  return db.transaction(async (tx) => {
    const images = [...(await imagesIn(tx, SUPERSEDED_IMAGES)).values()];
    const layers = await countUnheldAfter(tx, () => collectGarbage(tx, SUPERSEDED_IMAGES));
    await countChange(tx, "images");
    return { images, layers };
  });
}

const UNHELD =
  "SELECT id FROM layers l WHERE NOT EXISTS (SELECT 1 FROM manifest_layers ml WHERE ml.layer_id = l.id)";

/** How many layers `work` left unheld and removed. */
async function countUnheldAfter(tx: Db, work: () => Promise<number>): Promise<number> {
  const count = async () => Number((await tx.get<{ n: number }>("SELECT COUNT(*) AS n FROM layers"))?.n ?? 0);
  const before = await count();
  await work();
  return before - (await count());
}

/**
 * Removes the `doomed` manifests with their layer lists, then the layers no image holds. `doomed`
 * must not depend on the rows removed here (it is evaluated by each statement), only on refs.
 */
async function collectGarbage(tx: Db, doomed: Selection): Promise<number> {
  await tx.run(`DELETE FROM hidden_packages WHERE manifest_id IN (${doomed.sql})`, doomed.params);
  await tx.run(`DELETE FROM manifest_layers WHERE manifest_id IN (${doomed.sql})`, doomed.params);
  const removed = await tx.run(`DELETE FROM manifests WHERE id IN (${doomed.sql})`, doomed.params);
  await tx.run(`DELETE FROM layer_packages WHERE layer_id IN (${UNHELD})`);
  await tx.run(`DELETE FROM layers WHERE id IN (${UNHELD})`);
  return removed;
}
