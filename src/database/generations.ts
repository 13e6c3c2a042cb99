import type { Db } from "./db.js";

/**
 * Change counters: what a long-running reader (the admission webhook) asks, in one tiny statement,
 * to know whether what it derived from a database still holds. Each writer bumps its counter as the
 * last statement of its transaction, so a reader sees the new count only with the new rows, and on
 * PostgreSQL the counter's row lock is held only from then to the commit. The table is made by the
 * fleet index's migration 200 (src/fleet/changes.ts).
 */

export type ChangeKind = "images" | "advisories";

/** How many times the images and the vulnerability data have changed. */
export interface Generations {
  images: number;
  advisories: number;
}

/** Counts one change of `what`: call it last in the transaction that made the change. */
export async function countChange(tx: Db, what: ChangeKind): Promise<void> {
  await tx.run("UPDATE index_changes SET generation = generation + 1 WHERE what = ?", [what]);
}

export async function readGenerations(db: Db): Promise<Generations> {
  const rows = await db.all<{ what: string; generation: number | string }>(
    "SELECT what, generation FROM index_changes",
  );
  const of = (what: ChangeKind) => Number(rows.find((r) => r.what === what)?.generation ?? 0);
  return { images: of("images"), advisories: of("advisories") };
}

/**
 * The generations, read at most once every `everyMs` however many ask: concurrent callers share
 * one read, and a failed read is not kept (the next caller reads again).
 */
export class GenerationWatch {
  private last: { at: number; value: Promise<Generations> } | undefined;

  constructor(
    private readonly read: () => Promise<Generations>,
    private readonly everyMs: number,
  ) {}

  current(): Promise<Generations> {
    const now = performance.now();
    if (this.last !== undefined && now - this.last.at < this.everyMs) return this.last.value;
    const value = this.read();
    const read = { at: now, value };
    this.last = read;
    value.catch(() => {
      if (this.last === read) this.last = undefined;
    });
    return value;
  }
}
