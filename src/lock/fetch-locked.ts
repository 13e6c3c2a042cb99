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
  const fetched = { debs: new Set(lock.packages.map((p) => p.sha256)).size, downloaded: 0, bytes: 0 };
  watch.onStart(fetched.debs);
  const onEvent = (e: FetchEvent<LockedPackage>) => {
    if (e.status === "downloaded") {
      fetched.downloaded++;
      fetched.bytes += e.pkg.size;
    }
    watch.onEvent(e);
  };
  await fetchDebs(lock.packages, { cacheRoot: opts.cacheDir, concurrency: opts.jobs, onEvent });
  return fetched;
}
