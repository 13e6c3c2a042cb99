import { join } from "node:path";
import { cachedPackagesIndex, type PackagesIndex } from "../debian/packages-index.js";
import { cachedRelease, type FetchContext } from "../debian/release.js";
import { cacheRoot } from "../util/dirs.js";
import { StrataError } from "../util/errors.js";
import { pathExists, writeFileAtomic } from "../util/fs.js";
import { sha256Hex } from "../util/hash.js";
import type { Lock, LockedPackage } from "./lock.js";

/**
 * Checks every locked package against the signed index it claims to come from, when that index is
 * in the cache under the InRelease sha256 the lock records: the stanza must be there with the same
 * sha256, size and pool path. A hand-added or edited entry is refused; without the cached index the
 * entry is left to the .deb's sha256 check.
 *
 * Reading the indexes takes a second or two for bookworm, so a lock text whose every entry was
 * found (or that `strata lock` wrote from the indexes) is remembered by its sha256 in the cache.
 */
export async function verifyLockedPackages(
  lock: Lock,
  lockText: string,
  path: string,
  hint: string,
  ctx: FetchContext = {},
): Promise<void> {
  const mark = verifiedMark(lockText, ctx);
  if (await pathExists(mark)) return;
  const indexes = new Map<string, Promise<PackagesIndex | undefined>>();
  let unchecked = 0;
  for (const [i, p] of lock.packages.entries()) {
    const where = `${path}: packages[${i}] (${p.name} ${p.version})`;
    checkOrigin(lock, p, where, hint);
    const key = [p.repository, p.suite, p.component, p.arch].join(" ");
    if (!indexes.has(key)) indexes.set(key, signedIndex(lock, p, ctx));
    const index = await indexes.get(key)!;
    if (!index) {
      unchecked++;
      continue;
    }
    const stanza = index.byName(p.name).find((r) => r.version === p.version);
    const same =
      stanza?.sha256 === p.sha256 &&
      stanza.size === p.size &&
      stanza.filename === p.filename &&
      stanza.source === p.source &&
      stanza.sourceVersion === p.sourceVersion;
    if (!same) {
      throw new StrataError(
        "LOCK_INVALID",
        `${where} is not in the signed index of ${p.repository} ${p.suite}/${p.component} with that sha256, size, filename and source`,
        { hint },
      );
    }
  }
  if (unchecked === 0) await rememberVerified(lockText, ctx);
}

/** Records that this lock text matches the signed indexes (strata lock writes it from them). */
export async function rememberVerified(lockText: string, ctx: FetchContext = {}): Promise<void> {
  await writeFileAtomic(verifiedMark(lockText, ctx), "");
}

function verifiedMark(lockText: string, ctx: FetchContext): string {
  return join(cacheRoot(ctx.cacheRoot), "verified-locks", sha256Hex(lockText));
}

/**
 * An entry must come from a repository, suite and component the lock was resolved from, with a
 * recorded InRelease: one from elsewhere (another mirror, a key nobody trusts) is never fetched.
 */
function checkOrigin(lock: Lock, p: LockedPackage, where: string, hint: string): void {
  const source = lock.inputs.repositories.find((r) => r.url === p.repository);
  const recorded = lock.releases.some((r) => r.url === p.repository && r.suite === p.suite);
  if (source && recorded && source.suites.includes(p.suite) && source.components.includes(p.component))
    return;
  throw new StrataError(
    "LOCK_INVALID",
    `${where} names ${p.repository} ${p.suite}/${p.component}, which the lock was not resolved from`,
    { hint },
  );
}

async function signedIndex(lock: Lock, p: LockedPackage, ctx: FetchContext) {
  const recorded = lock.releases.find((r) => r.url === p.repository && r.suite === p.suite);
  const source = lock.inputs.repositories.find((r) => r.url === p.repository);
  if (!recorded || !source) return undefined;
  const release = await cachedRelease(source, p.suite, recorded.inRelease, ctx);
  return release && cachedPackagesIndex(release, p.component, p.arch, ctx);
}
