import type { ChangelogEntry } from "../advisories/changelog.js";
import { CHANGELOG_PATH, cachedDebChangelog, parseGzippedChangelog } from "../advisories/deb-changelog.js";
import { startDebFetches } from "../debian/fetch-debs.js";
import type { FetchContext } from "../debian/release.js";
import { relocateUrl } from "../debian/sources.js";
import type { VisitedEntry } from "../inventory/layer-entries.js";
import { scanOverlay } from "../inventory/overlay.js";
import type { LockedPackage } from "../lock/lock.js";
import type { Image } from "../oci/image.js";
import { checkRebuildable } from "../record/rebuildable.js";
import { Limiter } from "../util/concurrency.js";

/**
 * The changelog each installed source package ships (`changelog.Debian.gz`), by source name: what
 * the package's own maintainers say it fixed, up to the installed version. A strata image keeps no
 * docs, so its changelogs come from the very .debs its build record locked (by sha256, from the
 * cache or the repository); any other image's come from its own usr/share/doc.
 */

/** A gzipped changelog is a few hundred kB (glibc's: ~300 kB); a bigger body is not read. */
const MAX_GZIPPED_CHANGELOG_BYTES = 16 << 20;
/** Far more doc directories than any image holds; more is a crafted image. */
const MAX_CHANGELOGS = 200_000;

export interface ChangelogOptions {
  ctx?: FetchContext;
  /** The --mirror the repositories are reached through. */
  mirror?: string;
  /** false: only changelogs the cache holds (a build's layer worker kept them); no .deb is read. */
  fetch?: boolean;
}

/**
 * Each source's changelog from the first of its locked binaries that ships one (a doc directory
 * may be a sibling's symlink), a few sources at a time: a .deb is fetched only when its changelog
 * is not cached yet.
 */
async function lockedChangelogs(locked: LockedPackage[], opts: ChangelogOptions) {
  const bySource = new Map<string, LockedPackage[]>();
  for (const p of locked) {
    const at = opts.mirror ? { ...p, repository: relocateUrl(p.repository, opts.mirror) } : p;
    bySource.get(p.source)?.push(at) ?? bySource.set(p.source, [at]);
  }
  const cacheRoot = opts.ctx?.cacheRoot;
  const limiter = new Limiter(4);
  const out = new Map<string, ChangelogEntry[]>();
  const readSource = async (source: string, binaries: LockedPackage[]) => {
    for (const p of binaries) {
      const debPath =
        opts.fetch === false ? undefined : () => startDebFetches([p], { cacheRoot }).get(p.sha256)!;
      const entries = await cachedDebChangelog(p.sha256, debPath, cacheRoot);
      if (entries === undefined) continue;
      out.set(source, entries);
      return;
    }
  };
  await Promise.all(
    [...bySource].map(([source, binaries]) => limiter.run(() => readSource(source, binaries))),
  );
  return out;
}

async function keepChangelog(entry: VisitedEntry, where: string): Promise<ChangelogEntry[] | undefined> {
  if (entry.type !== "file" || !CHANGELOG_PATH.test(entry.path)) return undefined;
  if (entry.size > MAX_GZIPPED_CHANGELOG_BYTES) return undefined;
  const body = await entry.body(MAX_GZIPPED_CHANGELOG_BYTES);
  return parseGzippedChangelog(
    (async function* () {
      yield body;
    })(),
    `${where}: ${entry.path}`,
  );
}

/** The changelogs in the image's own doc directories, by the source their entries name. */
async function imageChangelogs(image: Image, where: string): Promise<Map<string, ChangelogEntry[]>> {
  const found = await scanOverlay(image, where, {
    roots: ["usr/share/doc"],
    keep: (entry) => keepChangelog(entry, where),
    maxKept: MAX_CHANGELOGS,
  });
  const out = new Map<string, ChangelogEntry[]>();
  for (const { value } of found.values()) {
    const source = value[0]?.source;
    if (source !== undefined && !out.has(source)) out.set(source, value);
  }
  return out;
}

export async function installedChangelogs(
  image: Image,
  where: string,
  opts: ChangelogOptions = {},
): Promise<Map<string, ChangelogEntry[]>> {
  const rebuildability = await checkRebuildable(image, where);
  if (!rebuildability.ok) return imageChangelogs(image, where);
  return lockedChangelogs(
    rebuildability.layers.flatMap((l) => l.packages),
    opts,
  );
}
