import type { Db } from "./db.js";

/**
 * A counter every write of the fleet's images bumps (add, sync, rm, prune), in the database so that
 * every process sees it: a reader that keeps something computed from the index (the page's fleet
 * summary) keys it by the counter and computes it again only when the counter moved. It is bumped
 * last in the writing transaction, so a reader never sees the new value before the rows it counts,
 * and writers queue on its one row only at their commit.
 */

export const CHANGES_MIGRATION = {
  version: 5,
  name: "a change counter of the fleet's images, for readers that keep summaries",
  sql: `
CREATE TABLE index_changes (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  counter BIGINT NOT NULL
);
INSERT INTO index_changes (id, counter) VALUES (1, 0);
`,
};

/** Marks that the images changed: call it last in the transaction that changed them. */
export async function noteChange(tx: Db): Promise<void> {
  await tx.run("UPDATE index_changes SET counter = counter + 1 WHERE id = 1");
}

/** The counter now: it moves with every committed write of images. */
export async function changeCounter(db: Db): Promise<number> {
  const row = await db.get<{ counter: number }>("SELECT counter FROM index_changes WHERE id = 1");
  return Number(row?.counter ?? 0);
}
