import type { Db } from "../database/db.js";

/**
 * The digests refs name (an image's, or the index's that holds it), up to `limit`, in digest
 * order: what a pod pins, and so what a webhook warms up with.
 */
export async function namedDigests(db: Db, limit: number): Promise<string[]> {
  const rows = await db.all<{ top_digest: string }>(
    "SELECT DISTINCT top_digest FROM refs ORDER BY top_digest LIMIT ?",
    [limit],
  );
  return rows.map((r) => r.top_digest);
}
