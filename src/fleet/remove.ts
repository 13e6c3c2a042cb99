import type { Db } from "./db.js";
import type { IndexedRef } from "./lookups.js";

/**
 * Removing images: refs go first; a manifest no ref names any more goes with its layer list, and a
 * layer no image holds goes with its package rows. (Package rows themselves stay: they are a few
 * bytes each and other tables may name them.)
 */

export type RemoveTarget = { digest: string } | { ref: IndexedRef };

/** Removes what `target` names; returns how many images left the index. */
export async function removeImages(db: Db, target: RemoveTarget): Promise<number> {
  return db.transaction(async (tx) => {
    if ("digest" in target) {
      await tx.run(
        "DELETE FROM refs WHERE manifest_id IN (SELECT id FROM manifests WHERE digest = ? OR config_digest = ?)",
        [target.digest, target.digest],
      );
    } else {
      const { registry, repository, tag } = target.ref;
      const byTag = tag === "" ? "" : " AND tag = ?";
      const params = tag === "" ? [registry, repository] : [registry, repository, tag];
      await tx.run(`DELETE FROM refs WHERE registry = ? AND repository = ?${byTag}`, params);
      await tx.run(`DELETE FROM sync_tags WHERE registry = ? AND repository = ?${byTag}`, params);
    }
    return collectGarbage(tx);
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
