import { loadSpec, type Spec } from "../spec/spec.js";
import { assertLockCovers, type Lock, lockPathFor, readLock, writeLock } from "./lock.js";
import { baseFilesWarnings, resolveSpec } from "./resolve.js";

export interface LockSpecOptions {
  mirror?: string;
  cacheDir?: string;
  /** Only check that the lock beside the spec covers it; write nothing. */
  check?: boolean;
  allowDowngrade?: boolean;
  checkValidUntil: boolean;
}

export interface LockSpecOutcome {
  spec: Spec;
  lockPath: string;
  /** The lock written; undefined when it was only checked. */
  lock?: Lock;
}

/**
 * `strata lock`: the spec resolved against its signed repositories and its lock written beside it,
 * or with `check`, the lock there proved to cover it. `onWarning` hears the spec's and the lock's warnings.
 */
export async function lockSpec(
  specPath: string,
  opts: LockSpecOptions,
  onWarning: (warning: string) => void,
): Promise<LockSpecOutcome> {
  const spec = await loadSpec(specPath, { mirror: opts.mirror });
  const lockPath = lockPathFor(spec);
  for (const warning of spec.warnings) onWarning(warning);
  if (opts.check) {
    assertLockCovers(await readLock(lockPath, spec, { cacheRoot: opts.cacheDir }), spec, lockPath);
    return { spec, lockPath };
  }
  const lock = await resolveSpec(spec, {
    cacheRoot: opts.cacheDir,
    allowDowngrade: opts.allowDowngrade,
    checkValidUntil: opts.checkValidUntil,
  });
  await writeLock(lockPath, lock, { cacheRoot: opts.cacheDir });
  for (const warning of baseFilesWarnings(spec, lock)) onWarning(warning);
  return { spec, lockPath, lock };
}
