import { readFile, stat } from "node:fs/promises";
import { basename, dirname, join, relative } from "node:path";
import type { PackageRecord } from "../debian/package.js";
import type { FetchContext, VerifiedRelease } from "../debian/release.js";
import type { Resolution } from "../debian/resolver.js";
import { plainTypeError, type Spec } from "../spec/spec.js";
import { StrataError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { compareText } from "../util/order.js";
import {
  LOCK_VERSION,
  type Lock,
  type LockedExclusion,
  type LockedPackage,
  type LockInputs,
  lockSchema,
} from "./lock-schema.js";
import { rememberVerified, verifyLockedPackages } from "./lock-verify.js";

export type { Lock, LockedExclusion, LockedPackage, LockedRelease, LockInputs } from "./lock-schema.js";
export { LOCK_VERSION } from "./lock-schema.js";

/** The lock beside its spec: app-a.yaml → app-a.lock, strata.yaml → strata.lock. */
export function lockPathFor(spec: Spec): string {
  return join(dirname(spec.path), `${basename(spec.path).replace(/\.ya?ml$/, "")}.lock`);
}

/** The command that (re)writes the lock of this spec, for hints. */
export function lockCommandFor(spec: Spec): string {
  const rel = relative(process.cwd(), spec.path);
  return `strata lock ${rel.startsWith("..") ? spec.path : rel}`;
}

export function lockInputs(spec: Spec): LockInputs {
  return {
    archs: [...spec.archs],
    packages: [...spec.packages],
    exclude: [...spec.exclude].sort(),
    ...(spec.essential ? { essential: true as const } : {}),
    repositories: spec.repositories.map((r) => ({
      url: r.url,
      suites: [...r.suites],
      components: [...r.components],
      keyring: r.keyring,
    })),
  };
}

/** The lock entry of a repository record. */
export function lockedPackage(
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

/** Writes the lock and remembers it as verified: it was made from the signed indexes. */
export async function writeLock(path: string, lock: Lock, ctx: FetchContext = {}): Promise<void> {
  const text = serializeLock(lock);
  await writeFileAtomic(path, text);
  await rememberVerified(text, ctx);
}

/** A lock larger than this is refused unread (a lock of thousands of packages is a few MB). */
const MAX_LOCK_BYTES = 64 * 1024 * 1024;

/**
 * Reads and validates a lock: its shape and every field (a lock is input like any other: it may
 * have been edited by hand), that each of its architectures has packages and each package belongs
 * to one of them, and that each package is in the signed index it names (when that is cached).
 */
export async function readLock(path: string, spec: Spec, ctx: FetchContext = {}): Promise<Lock> {
  const again = { hint: `run \`${lockCommandFor(spec)}\` to write it again` };
  const info = await stat(path).catch(() => undefined);
  if (!info) {
    throw new StrataError("LOCK_MISSING", `${path}: no lock file for ${spec.path}`, {
      hint: `run \`${lockCommandFor(spec)}\` to create it`,
    });
  }
  if (!info.isFile() || info.size > MAX_LOCK_BYTES) {
    throw new StrataError(
      "LOCK_INVALID",
      `${path}: not a regular file of at most ${MAX_LOCK_BYTES} bytes`,
      again,
    );
  }
  const text = await readFile(path, "utf8");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new StrataError("LOCK_INVALID", `${path}: not valid JSON (${(err as Error).message})`, again);
  }
  const result = lockSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new StrataError(
      "LOCK_INVALID",
      `${path}: ${describeEntry(json, issue.path)}: ${issue.code === "invalid_type" ? plainTypeError(issue.expected, valueAt(json, issue.path)) : issue.message}`,
      again,
    );
  }
  checkArchs(result.data, path, again);
  await verifyLockedPackages(result.data, text, path, again.hint, ctx);
  return result.data;
}

function valueAt(json: unknown, path: PropertyKey[]): unknown {
  let value = json;
  for (const key of path) value = (value as Record<PropertyKey, unknown> | null | undefined)?.[key];
  return value;
}

/** "packages[3] (curl).sha256", naming the entry by its name when it has one. */
function describeEntry(json: unknown, path: PropertyKey[]): string {
  if (path.length === 0) return `not a strata lock of version ${LOCK_VERSION}`;
  const [list, index, ...rest] = path;
  if (typeof index !== "number") return path.join(".");
  const entry = (json as Record<string, unknown[]>)[list as string]?.[index] as
    | { name?: unknown }
    | undefined;
  const name =
    typeof entry?.name === "string" && /^[a-z0-9+.-]{1,100}$/.test(entry.name) ? ` (${entry.name})` : "";
  return `${String(list)}[${index}]${name}${rest.length > 0 ? `.${rest.join(".")}` : ""}`;
}

function checkArchs(lock: Lock, path: string, again: { hint: string }): void {
  for (const [i, p] of lock.packages.entries()) {
    if (!lock.inputs.archs.includes(p.arch))
      throw new StrataError(
        "LOCK_INVALID",
        `${path}: packages[${i}] (${p.name}).arch: ${p.arch} is not an architecture of the lock (${lock.inputs.archs.join(", ")})`,
        again,
      );
    if (p.architecture !== p.arch && p.architecture !== "all")
      throw new StrataError(
        "LOCK_INVALID",
        `${path}: packages[${i}] (${p.name}).architecture: ${p.architecture} cannot run on ${p.arch}`,
        again,
      );
  }
  for (const arch of lock.inputs.archs) {
    if (!lock.packages.some((p) => p.arch === arch))
      throw new StrataError("LOCK_INVALID", `${path}: no packages for ${arch}`, again);
  }
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
  if (Boolean(have.essential) !== Boolean(want.essential))
    drift.push(`essential: now ${Boolean(want.essential)}`);
  if (JSON.stringify(have.repositories) !== JSON.stringify(want.repositories))
    drift.push("repositories changed");
  return drift;
}

export function assertLockCovers(lock: Lock, spec: Spec, lockPath: string): void {
  const drift = lockDrift(lock, spec);
  if (drift.length > 0) {
    throw new StrataError("LOCK_STALE", `${lockPath} does not cover ${spec.path} (${drift.join("; ")})`, {
      hint: `run \`${lockCommandFor(spec)}\` to update it (or pass --lock-update)`,
    });
  }
}
