import { startDebFetches } from "../debian/fetch-debs.js";
import type { PackageRecord } from "../debian/package.js";
import { loadPackagesIndex } from "../debian/packages-index.js";
import type { FetchContext } from "../debian/release.js";
import { Universe } from "../debian/universe.js";
import { compareVersions } from "../debian/version.js";
import { type LockedPackage, lockedPackage } from "../lock/lock.js";
import { fetchReleases } from "../lock/resolve.js";
import type { Spec } from "../spec/spec.js";
import { StrataError } from "../util/errors.js";
import { type Advisory, DEBIAN_RELEASES } from "./advisory.js";
import { changelogEvidence } from "./changelog.js";
import { cachedDebChangelog } from "./deb-changelog.js";
import { type Available, type InstalledPackage, releaseOfPackages } from "./match.js";

/** What the repositories say about installed packages: newer versions, and the CVEs they fix. */
export interface RepositoryEvidence {
  available: Map<string, Available>;
  advisories: Advisory[];
  /** Source packages whose newer changelog does not reach back to the installed version. */
  trimmed: string[];
  /** The release the repositories hold and their suites: what this evidence speaks for. */
  covers: { release: string; suites: string[] };
}

export interface EvidenceOptions {
  /** The release the advisories are about; default: the one the repositories' base-files says. */
  release?: string;
  arch: string;
  ctx?: FetchContext;
}

/** The repositories' candidates for one architecture (the highest version over all suites). */
async function universeOf(spec: Spec, arch: string, ctx: FetchContext): Promise<Universe> {
  const releases = await fetchReleases(spec, ctx);
  const indexes = await Promise.all(
    releases.flatMap((r) => r.source.components.map((c) => loadPackagesIndex(r, c, arch, ctx))),
  );
  return new Universe(arch, indexes);
}

/** A repository record in the shape the .deb fetcher takes (a lock entry). */
function asLocked(rec: PackageRecord, arch: string): LockedPackage {
  return lockedPackage(arch, rec, false, []);
}

/** Per source package with a newer source version: the installed source version and the newer binaries. */
function newerSources(packages: InstalledPackage[], universe: Universe) {
  const sources = new Map<string, { installed: string; newer: PackageRecord[] }>();
  for (const pkg of packages) {
    const cand = universe.candidate(pkg.name);
    // A binNMU's new binary version has the same source version: it fixes nothing.
    if (!cand || compareVersions(cand.sourceVersion, pkg.sourceVersion) <= 0) continue;
    const entry = sources.get(pkg.source) ?? { installed: pkg.sourceVersion, newer: [] };
    if (compareVersions(pkg.sourceVersion, entry.installed) < 0) entry.installed = pkg.sourceVersion;
    entry.newer.push(cand);
    sources.set(pkg.source, entry);
  }
  return sources;
}

/**
 * For every installed package the spec's repositories offer newer: where, and which CVEs the newer
 * .deb's changelog names between the installed source version and the new one. A binary whose doc
 * directory links to a sibling's ships no changelog: the next binary of the source is read then.
 */
export async function repositoryEvidence(
  spec: Spec,
  packages: InstalledPackage[],
  opts: EvidenceOptions,
): Promise<RepositoryEvidence> {
  const ctx = opts.ctx ?? {};
  const universe = await universeOf(spec, opts.arch, ctx);
  const baseFiles = universe.candidate("base-files");
  const held = (baseFiles && releaseOfPackages([baseFiles])) ?? suiteRelease(spec);
  const release = opts.release ?? held;
  if (release === undefined) {
    throw new StrataError("USAGE", `${spec.path}: cannot tell which Debian release the repositories hold`, {
      hint: "name it with --release, e.g. --release bookworm",
    });
  }
  const available = new Map<string, Available>();
  for (const pkg of packages) {
    const cand = universe.candidate(pkg.name);
    if (cand && compareVersions(cand.version, pkg.version) > 0)
      available.set(pkg.name, {
        version: cand.version,
        sourceVersion: cand.sourceVersion,
        suite: cand.origin.suite,
      });
  }
  const sources = newerSources(packages, universe);
  const fetches = startDebFetches(
    [...sources.values()].flatMap((s) => s.newer.map((rec) => asLocked(rec, opts.arch))),
    { cacheRoot: ctx.cacheRoot },
  );
  const advisories: Advisory[] = [];
  const trimmed: string[] = [];
  for (const [source, { installed, newer }] of sources) {
    for (const rec of newer) {
      const entries = await cachedDebChangelog(rec.sha256, () => fetches.get(rec.sha256)!, ctx.cacheRoot);
      if (entries === undefined) continue;
      const evidence = changelogEvidence(entries, {
        source,
        release,
        installed,
        available: rec.sourceVersion,
        availableIn: rec.origin.suite,
      });
      for (const advisory of evidence.advisories) advisories.push(advisory);
      if (!evidence.complete) trimmed.push(source);
      break;
    }
  }
  const suites = [...new Set(spec.repositories.flatMap((r) => r.suites))].sort();
  return { available, advisories, trimmed, covers: { release: held ?? "", suites } };
}

/**
 * The release codename the spec's suites share ("bookworm" of bookworm, bookworm-security, ...),
 * if they share one Debian knows ("stable" names no release for long).
 */
function suiteRelease(spec: Spec): string | undefined {
  const names = new Set(spec.repositories.flatMap((r) => r.suites.map((s) => s.replace(/-.*$/, ""))));
  const [name] = names;
  return names.size === 1 && Object.values(DEBIAN_RELEASES).includes(name) ? name : undefined;
}
