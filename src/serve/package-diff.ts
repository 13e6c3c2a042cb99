import type { IndexedPackage } from "../fleet/lookups.js";

/**
 * A package diff from two package lists of the index (no image is read). It keys packages as
 * src/inventory/image-diff.ts does: by name, or by name and architecture where a name repeats.
 */

export interface PackageDiff {
  added: IndexedPackage[];
  removed: IndexedPackage[];
  changed: { name: string; architecture: string; a: IndexedPackage; b: IndexedPackage }[];
  same: number;
}

function keyer(a: IndexedPackage[], b: IndexedPackage[]): (p: IndexedPackage) => string {
  const repeated = new Set<string>();
  for (const list of [a, b]) {
    const names = new Set<string>();
    for (const p of list) (names.has(p.name) ? repeated : names).add(p.name);
  }
  return (p) => (repeated.has(p.name) ? `${p.name}:${p.architecture}` : p.name);
}

export function diffPackages(a: IndexedPackage[], b: IndexedPackage[]): PackageDiff {
  const key = keyer(a, b);
  const inA = new Map(a.map((p) => [key(p), p]));
  const inB = new Map(b.map((p) => [key(p), p]));
  const out: PackageDiff = { added: [], removed: [], changed: [], same: 0 };
  for (const [k, pb] of inB) {
    const pa = inA.get(k);
    if (pa === undefined) out.added.push(pb);
    else if (pa.version !== pb.version)
      out.changed.push({ name: pb.name, architecture: pb.architecture, a: pa, b: pb });
    else out.same++;
  }
  for (const [k, pa] of inA) if (!inB.has(k)) out.removed.push(pa);
  return out;
}
