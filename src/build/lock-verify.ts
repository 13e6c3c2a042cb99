import { cachedPackagesIndex, type PackagesIndex } from "../debian/packages-index.js";
import { cachedRelease, type FetchContext } from "../debian/release.js";
import { StrataError } from "../util/errors.js";
import type { Lock, LockedPackage } from "./lock.js";

/**
 * Checks every locked package against the signed index it claims to come from, when that index is
 * in the cache under the InRelease sha256 the lock records: the stanza must be there with the same
 * sha256, size and pool path. A hand-added or edited entry is refused; without the cached index the
 * entry is left to the .deb's sha256 check.
 */
export async function verifyLockedPackages(
  lock: Lock,
  path: string,
  hint: string,
  ctx: FetchContext = {},
): Promise<void> {
  const indexes = new Map<string, Promise<PackagesIndex | undefined>>();
  for (const [i, p] of lock.packages.entries()) {
    const key = [p.repository, p.suite, p.component, p.arch].join(" ");
    if (!indexes.has(key)) indexes.set(key, signedIndex(lock, p, ctx));
    const index = await indexes.get(key)!;
    if (!index) continue;
    const stanza = index.byName(p.name).find((r) => r.version === p.version);
    if (stanza?.sha256 !== p.sha256 || stanza.size !== p.size || stanza.filename !== p.filename) {
      throw new StrataError(
        "LOCK_INVALID",
        `${path}: packages[${i}] (${p.name} ${p.version}) is not in the signed index of ${p.repository} ${p.suite}/${p.component} with that sha256, size and filename`,
        { hint },
      );
    }
  }
}

async function signedIndex(lock: Lock, p: LockedPackage, ctx: FetchContext) {
  const recorded = lock.releases.find((r) => r.url === p.repository && r.suite === p.suite);
  const source = lock.inputs.repositories.find((r) => r.url === p.repository);
  if (!recorded || !source) return undefined;
  const release = await cachedRelease(source, p.suite, recorded.inRelease, ctx);
  return release && cachedPackagesIndex(release, p.component, p.arch, ctx);
}
