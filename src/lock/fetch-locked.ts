import { type FetchEvent, fetchDebs } from "../debian/fetch-debs.js";
import { loadSpec } from "../spec/spec.js";
import { assertLockCovers, type LockedPackage, lockPathFor, readLock } from "./lock.js";
import { relocateLock } from "./relocate.js";

export interface FetchLockedWatcher {
  /** How many distinct .debs the lock names (one file may serve several archs). */
  onStart: (debs: number) => void;
  onEvent: (e: FetchEvent<LockedPackage>) => void;
}

export interface FetchedDebs {
  /** Distinct .debs the lock names, how many of them were downloaded (the rest were cached), and their bytes. */
  debs: number;
  downloaded: number;
  bytes: number;
}

/** `strata fetch`: every .deb the spec's lock names downloaded into the cache (or found there), each verified. */
export async function fetchLocked(
  specPath: string,
  opts: { mirror?: string; cacheDir?: string; jobs?: number },
  watch: FetchLockedWatcher,
): Promise<FetchedDebs> {
  const spec = await loadSpec(specPath, { mirror: opts.mirror });
  const lockPath = lockPathFor(spec);
  const lock = relocateLock(await readLock(lockPath, spec, { cacheRoot: opts.cacheDir }), opts.mirror);
  assertLockCovers(lock, spec, lockPath);
  watch.onStart(new Set(lock.packages.map((p) => p.sha256)).size);
  await fetchDebs(lock.packages, {
    cacheRoot: opts.cacheDir,
    concurrency: opts.jobs,
    onEvent: watch.onEvent,
  });
}
