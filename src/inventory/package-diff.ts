/**
 * What changes from one package list to another: added, removed, changed (another version) and how
 * many stay the same. Packages are keyed by name, or by name and architecture for names that several
 * architectures share. Used for images read whole (image-diff.ts) and for the fleet index's lists.
 */

export interface ListedPackage {
  name: string;
  /** Absent or "" when unknown. */
  architecture?: string;
  version: string;
}

export interface PackageListDiff<P> {
  added: P[];
  removed: P[];
  changed: { a: P; b: P }[];
  same: number;
}

function keyOf(a: ListedPackage[], b: ListedPackage[]): (p: ListedPackage) => string {
  const repeated = new Set<string>();
  for (const list of [a, b]) {
    const names = new Set<string>();
    for (const p of list) (names.has(p.name) ? repeated : names).add(p.name);
  }
  return (p) => (repeated.has(p.name) ? `${p.name}:${p.architecture ?? ""}` : p.name);
}

export function diffPackageLists<P extends ListedPackage>(a: P[], b: P[]): PackageListDiff<P> {
  const key = keyOf(a, b);
  const inA = new Map(a.map((p) => [key(p), p]));
  const inB = new Map(b.map((p) => [key(p), p]));
  const out: PackageListDiff<P> = { added: [], removed: [], changed: [], same: 0 };
  for (const [k, pb] of inB) {
    const pa = inA.get(k);
    if (pa === undefined) out.added.push(pb);
    else if (pa.version !== pb.version) out.changed.push({ a: pa, b: pb });
    else out.same++;
  }
  for (const [k, pa] of inA) if (!inB.has(k)) out.removed.push(pa);
  return out;
}
