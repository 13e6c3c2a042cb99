import type { Db } from "../database/db.js";

/** The tags a registry sync has seen (table sync_tags): what each named last, and how it went. */

export async function syncedDigest(
  db: Db,
  registry: string,
  repo: string,
  tag: string,
): Promise<string | undefined> {
  const row = await db.get<{ digest: string }>(
    "SELECT digest FROM sync_tags WHERE registry = ? AND repository = ? AND tag = ?",
    [registry, repo, tag],
  );
  return row?.digest;
}

export async function recordSyncedTag(
  db: Db,
  at: { registry: string; repo: string; tag: string },
  digest: string,
  outcome: string,
): Promise<void> {
  await db.run(
    `INSERT INTO sync_tags (registry, repository, tag, digest, outcome, synced_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (registry, repository, tag) DO UPDATE
       SET digest = excluded.digest, outcome = excluded.outcome, synced_at = excluded.synced_at`,
    [at.registry, at.repo, at.tag, digest, outcome, Date.now()],
  );
}

export async function syncedTags(db: Db, registry: string, repo: string): Promise<string[]> {
  const rows = await db.all<{ tag: string }>(
    "SELECT tag FROM sync_tags WHERE registry = ? AND repository = ?",
    [registry, repo],
  );
  return rows.map((r) => r.tag);
}
