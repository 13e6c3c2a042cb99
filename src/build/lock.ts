import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { PackageRecord } from "../debian/package.js";
import type { VerifiedRelease } from "../debian/release.js";
import type { Resolution } from "../debian/resolver.js";
import { StrataError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { compareText } from "../util/order.js";
import type { Spec } from "./spec.js";

export const LOCK_VERSION = 1;

/** What the lock was resolved from; a spec whose inputs differ is not covered by the lock. */
export interface LockInputs {
  archs: string[];
  packages: string[];
  exclude: string[];
  repositories: { url: string; suites: string[]; components: string[]; keyring: string }[];
}

export interface LockedRelease {
  url: string;
  suite: string;
  /** sha256 of the signed InRelease the indexes were verified against. */
  inRelease: string;
  date: string;
}

export interface LockedPackage {
  name: string;
  version: string;
  /** The image architecture this entry belongs to. */
  arch: string;
  /** The package's own Architecture field (the image arch or "all"). */
  architecture: string;
  source: string;
  sourceVersion: string;
  /** Debian Priority (required, important, standard, optional); orders layers. */
  priority: string;
  sha256: string;
  size: number;
  filename: string;
  repository: string;
  suite: string;
  component: string;
  /** "requested" (named in the spec), or "dependency". */
  reason: "requested" | "dependency";
  requiredBy: string[];
}

export interface LockedExclusion {
  name: string;
  arch: string;
  /** "spec" when the spec's exclude list names it, "default" when strata's default list does. */
  excludedBy: "spec" | "default";
  /** Chosen packages with a dependency that this exclusion counts as met. */
  neededBy: string[];
}

export interface Lock {
  lockVersion: number;
  inputs: LockInputs;
  releases: LockedRelease[];
  packages: LockedPackage[];
  excluded: LockedExclusion[];
}

export function lockPathFor(spec: Spec): string {
  return join(dirname(spec.path), "strata.lock");
}

export function lockInputs(spec: Spec): LockInputs {
  return {
    archs: [...spec.archs],
    packages: [...spec.packages],
    exclude: [...spec.exclude].sort(),
    repositories: spec.repositories.map((r) => ({
      url: r.url,
      suites: [...r.suites],
      components: [...r.components],
      keyring: r.keyring,
    })),
  };
}

function lockedPackage(
  arch: string,
  rec: PackageRecord,
  requested: boolean,
  requiredBy: string[],
): LockedPackage {
  return {
    name: rec.name,
    version: rec.version,
    arch,
    architecture: rec.architecture,
    source: rec.source,
    sourceVersion: rec.sourceVersion,
    priority: rec.priority ?? "optional",
    sha256: rec.sha256,
    size: rec.size,
    filename: rec.filename,
    repository: rec.origin.url,
    suite: rec.origin.suite,
    component: rec.origin.component,
    reason: requested ? "requested" : "dependency",
    requiredBy,
  };
}

export function makeLock(spec: Spec, releases: VerifiedRelease[], resolutions: Resolution[]): Lock {
  const packages: LockedPackage[] = [];
  const excluded: LockedExclusion[] = [];
  for (const res of resolutions) {
    for (const p of res.packages) packages.push(lockedPackage(res.arch, p.record, p.requested, p.requiredBy));
    for (const e of res.excluded) {
      excluded.push({
        name: e.name,
        arch: res.arch,
        excludedBy: spec.excludeFromSpec ? "spec" : "default",
        neededBy: e.neededBy,
      });
    }
  }
  const byArchName = (a: { arch: string; name: string }, b: { arch: string; name: string }) =>
    compareText(a.arch, b.arch) || compareText(a.name, b.name);
  return {
    lockVersion: LOCK_VERSION,
    inputs: lockInputs(spec),
    releases: releases
      .map((r) => ({ url: r.source.url, suite: r.suite, inRelease: r.sha256, date: r.date }))
      .sort((a, b) => compareText(a.url + a.suite, b.url + b.suite)),
    packages: packages.sort(byArchName),
    excluded: excluded.sort(byArchName),
  };
}

/** The lock as text: two-space JSON, one field per line, fixed key order, trailing newline. */
export function serializeLock(lock: Lock): string {
  return `${JSON.stringify(lock, null, 2)}\n`;
}

export async function writeLock(path: string, lock: Lock): Promise<void> {
  await writeFileAtomic(path, serializeLock(lock));
}

export async function readLock(path: string): Promise<Lock> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    throw new StrataError("LOCK_MISSING", `${path}: no lock file`, {
      hint: "run `strata lock` to create it",
    });
  }
  let lock: Lock;
  try {
    lock = JSON.parse(text) as Lock;
  } catch (err) {
    throw new StrataError("LOCK_INVALID", `${path}: not valid JSON (${(err as Error).message})`, {
      hint: "run `strata lock` to write it again",
    });
  }
  if (lock.lockVersion !== LOCK_VERSION || !Array.isArray(lock.packages) || !lock.inputs) {
    throw new StrataError("LOCK_INVALID", `${path}: not a strata lock of version ${LOCK_VERSION}`, {
      hint: "run `strata lock` to write it again",
    });
  }
  return lock;
}

/** What about the spec the lock does not cover; empty when it covers it. */
export function lockDrift(lock: Lock, spec: Spec): string[] {
  const want = lockInputs(spec);
  const have = lock.inputs;
  const drift: string[] = [];
  const diff = (label: string, a: string[], b: string[]) => {
    const added = b.filter((x) => !a.includes(x));
    const removed = a.filter((x) => !b.includes(x));
    if (added.length > 0 || removed.length > 0) {
      const parts = [
        added.length ? `added ${added.join(", ")}` : "",
        removed.length ? `removed ${removed.join(", ")}` : "",
      ].filter(Boolean);
      drift.push(`${label}: ${parts.join("; ")}`);
    }
  };
  diff("archs", have.archs, want.archs);
  diff("packages", have.packages, want.packages);
  diff("exclude", have.exclude, want.exclude);
  if (JSON.stringify(have.repositories) !== JSON.stringify(want.repositories))
    drift.push("repositories changed");
  return drift;
}

export function assertLockCovers(lock: Lock, spec: Spec, lockPath: string): void {
  const drift = lockDrift(lock, spec);
  if (drift.length > 0) {
    throw new StrataError("LOCK_STALE", `${lockPath} does not cover ${spec.path} (${drift.join("; ")})`, {
      hint: "run `strata lock` to update it (or pass --lock-update)",
    });
  }
}
