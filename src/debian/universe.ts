import type { PackageRecord } from "./package.js";
import type { PackagesIndex } from "./packages-index.js";
import type { Alternative } from "./relations.js";
import { compareVersions, versionSatisfies } from "./version.js";

/**
 * Every package available for one image architecture, across all repositories and suites, with
 * apt's notion of a candidate: the highest version (unless a version is pinned), among records for
 * the image architecture or `all`.
 */
export class Universe {
  private readonly versionsCache = new Map<string, PackageRecord[]>();
  private readonly pins: Map<string, string>;

  constructor(
    readonly arch: string,
    readonly indexes: PackagesIndex[],
    pins: Map<string, string> = new Map(),
  ) {
    this.pins = pins;
  }

  private archMatches(rec: PackageRecord): boolean {
    return rec.architecture === this.arch || rec.architecture === "all";
  }

  /** All distinct versions of a real package, highest first (first index wins a tie). */
  versionsOf(name: string): PackageRecord[] {
    let list = this.versionsCache.get(name);
    if (!list) {
      const seen = new Set<string>();
      list = [];
      for (const index of this.indexes) {
        for (const rec of index.byName(name)) {
          if (!this.archMatches(rec) || seen.has(rec.version)) continue;
          seen.add(rec.version);
          list.push(rec);
        }
      }
      list.sort((a, b) => compareVersions(b.version, a.version));
      this.versionsCache.set(name, list);
    }
    return list;
  }

  candidate(name: string): PackageRecord | undefined {
    const versions = this.versionsOf(name);
    const pinned = this.pins.get(name);
    return pinned === undefined ? versions[0] : versions.find((v) => v.version === pinned);
  }

  /** Candidates of other packages that provide `name`, in index order (apt's package order). */
  providersOf(name: string): PackageRecord[] {
    const out: PackageRecord[] = [];
    const seen = new Set<string>();
    for (const index of this.indexes) {
      for (const rec of index.providersOf(name)) {
        if (seen.has(rec.name)) continue;
        seen.add(rec.name);
        const cand = this.candidate(rec.name);
        if (cand?.provides.some((p) => p.name === name)) out.push(cand);
      }
    }
    return out;
  }

  knownNames(): Set<string> {
    const names = new Set<string>();
    for (const index of this.indexes) for (const n of index.names()) names.add(n);
    return names;
  }
}

/** Whether `rec`, as a real package, satisfies one alternative of a relation. */
export function satisfiesDirectly(rec: PackageRecord, alt: Alternative, imageArch: string): boolean {
  if (rec.name !== alt.name) return false;
  if (!archQualifierAllows(rec, alt, imageArch)) return false;
  return alt.op === undefined || versionSatisfies(rec.version, alt.op, alt.version!);
}

/** Whether `rec` satisfies an alternative through its Provides (a versioned relation needs a versioned Provides). */
export function satisfiesByProvides(rec: PackageRecord, alt: Alternative): boolean {
  return rec.provides.some(
    (p) =>
      p.name === alt.name &&
      (alt.op === undefined ||
        (p.op === "=" && p.version !== undefined && versionSatisfies(p.version, alt.op, alt.version!))),
  );
}

function archQualifierAllows(rec: PackageRecord, alt: Alternative, imageArch: string): boolean {
  switch (alt.archQualifier) {
    case undefined:
      return true;
    case "any":
      // `foo:any` only matches a package that declares Multi-Arch: allowed (Policy 7.1, apt agrees).
      return rec.multiArch === "allowed";
    case "native":
      return rec.architecture === imageArch || rec.architecture === "all";
    default:
      return rec.architecture === alt.archQualifier || rec.architecture === "all";
  }
}
