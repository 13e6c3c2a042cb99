import { relocateUrl } from "../debian/sources.js";
import type { Lock } from "./lock.js";

/**
 * The lock as seen from `mirror` (the `--mirror` flag): every repository URL, in the inputs and in
 * each package, moved the way the spec's are. The .debs are pinned by sha256, so only where they
 * are fetched from changes, and a lock made against one mirror still covers the spec on another.
 */
export function relocateLock(lock: Lock, mirror: string | undefined): Lock {
  if (!mirror) return lock;
  return {
    ...lock,
    inputs: {
      ...lock.inputs,
      repositories: lock.inputs.repositories.map((r) => ({ ...r, url: relocateUrl(r.url, mirror) })),
    },
    packages: lock.packages.map((p) => ({ ...p, repository: relocateUrl(p.repository, mirror) })),
  };
}
