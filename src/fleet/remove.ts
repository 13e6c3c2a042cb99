import type { Db } from "./db.js";
import type { IndexedRef } from "./lookups.js";

/**
 * Removing images: refs go first; a manifest no ref names any more goes with its layer list, and a
 * layer no image holds goes with its package rows. (Package rows themselves stay: they are a few
 * bytes each and other tables may name them.)
 */

export type RemoveTarget = { digest: string } | { ref: IndexedRef };

export interface RemoveResult {
  /** Names (refs) removed. */
  refs: number;
  /** Images that left the index, no name being left to them. */
  images: number;
}

/** Removes what `target` names. */
export async function removeImages(db: Db, target: RemoveTarget): Promise<RemoveResult> {
  return db.transaction(async (tx) => {
    let refs: number;
    if ("digest" in target) {
      refs = await tx.run(
        "DELETE FROM refs WHERE manifest_id IN (SELECT id FROM manifests WHERE digest = ? OR config_digest = ?)",
        [target.digest, target.digest],
      );
    } else {
      const { registry, repository, tag } = target.ref;
      // No tag: every tag of the repository.
      const byTag = tag === "" ? "" : " AND tag = ?";
      const params = tag === "" ? [registry, repository] : [registry, repository, tag];
      refs = await tx.run(`DELETE FROM refs WHERE registry = ? AND repository = ?${byTag}`, params);
      await tx.run(`DELETE FROM sync_tags WHERE registry = ? AND repository = ?${byTag}`, params);
    }
    return { refs, images: await collectGarbage(tx) };
  });
}

const UNNAMED =
  "SELECT id FROM manifests m WHERE NOT EXISTS (SELECT 1 FROM refs r WHERE r.manifest_id = m.id)";
const UNHELD =
  "SELECT id FROM layers l WHERE NOT EXISTS (SELECT 1 FROM manifest_layers ml WHERE ml.layer_id = l.id)";

async function collectGarbage(tx: Db): Promise<number> {
  await tx.run(`DELETE FROM hidden_packages WHERE manifest_id IN (${UNNAMED})`);
  await tx.run(`DELETE FROM manifest_layers WHERE manifest_id IN (${UNNAMED})`);
  const removed = await tx.run(`DELETE FROM manifests WHERE id IN (${UNNAMED})`);
  await tx.run(`DELETE FROM layer_packages WHERE layer_id IN (${UNHELD})`);
  await tx.run(`DELETE FROM layers WHERE id IN (${UNHELD})`);
  return removed;
}
