import { assertLockCovers, type Lock, lockDrift, lockPathFor, readLock, writeLock } from "../lock/lock.js";
import { relocateLock } from "../lock/relocate.js";
import { resolveSpec } from "../lock/resolve.js";
import type { Spec } from "../spec/spec.js";
import { isStrataError } from "../util/errors.js";

export interface BuildLockOptions {
  cacheRoot?: string;
  /** The mirror the locked .debs are fetched from instead of the one the lock names. */
  mirror?: string;
  /** Re-resolve and rewrite the lock when it is missing or does not cover the spec (else that fails). */
  update?: boolean;
  /** What it does besides reading: resolving and writing the lock. */
  onNote?: (message: string) => void;
}

/** The lock a build of `spec` uses: the one beside it when it covers the spec, else re-resolved with `update`. */
export async function lockForBuild(spec: Spec, opts: BuildLockOptions = {}): Promise<Lock> {
  const lockPath = lockPathFor(spec);
  let lock: Lock | undefined;
  try {
    lock = relocateLock(await readLock(lockPath, spec, { cacheRoot: opts.cacheRoot }), opts.mirror);
  } catch (err) {
    if (!(isStrataError(err, "LOCK_MISSING") && opts.update)) throw err;
  }
  if (lock && lockDrift(lock, spec).length === 0) return lock;
  if (!opts.update) assertLockCovers(lock!, spec, lockPath);
  opts.onNote?.(`resolving ${spec.path} (--lock-update)`);
  const fresh = await resolveSpec(spec, { cacheRoot: opts.cacheRoot });
  await writeLock(lockPath, fresh, { cacheRoot: opts.cacheRoot });
  opts.onNote?.(`wrote ${lockPath}`);
  return fresh;
}
