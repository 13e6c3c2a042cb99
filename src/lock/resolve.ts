import type { PackagesIndex } from "../debian/packages-index.js";
import { loadPackagesIndex } from "../debian/packages-index.js";
import { type FetchContext, fetchRelease, type VerifiedRelease } from "../debian/release.js";
import { type PackageRequest, Resolver } from "../debian/resolver.js";
import { Universe } from "../debian/universe.js";
import type { Spec } from "../spec/spec.js";
import { type Lock, makeLock } from "./lock.js";

/** Fetches and verifies every suite's InRelease, once each, in parallel. */
export async function fetchReleases(spec: Spec, ctx: FetchContext): Promise<VerifiedRelease[]> {
  const jobs = spec.repositories.flatMap((source) =>
    source.suites.map((suite) => fetchRelease(source, suite, ctx)),
  );
  return Promise.all(jobs);
}

/**
 * Versions to hold for one architecture beyond the spec's own pins (an update keeps every package
 * it was not asked to change at its locked version); may check them against what is offered.
 */
export type ExtraPins = (arch: string, universe: Universe) => Map<string, string>;

/** Resolves the spec for every architecture and returns the lock that records it. */
export async function resolveSpec(spec: Spec, ctx: FetchContext, extraPins?: ExtraPins): Promise<Lock> {
  const releases = await fetchReleases(spec, ctx);
  const specPins = new Map<string, string>();
  const requests: PackageRequest[] = spec.packages.map((p) => {
    const [name, version] = p.split("=", 2);
    if (version) specPins.set(name, version);
    return { name, version };
  });
  const resolutions = [];
  for (const arch of spec.archs) {
    const indexes: PackagesIndex[] = await Promise.all(
      releases.flatMap((release) =>
        release.source.components.map((component) => loadPackagesIndex(release, component, arch, ctx)),
      ),
    );
    // The spec's own pins win over extra ones.
    const extra = extraPins?.(arch, new Universe(arch, indexes)) ?? new Map<string, string>();
    const universe = new Universe(arch, indexes, new Map([...extra, ...specPins]));
    const archRequests = withEssential(withBaseFiles(requests, spec, universe), spec, universe);
    resolutions.push(new Resolver(universe, new Set(spec.exclude)).resolve(archRequests));
  }
  return makeLock(spec, releases, resolutions);
}

/**
 * base-files (/etc/os-release, which scanners read to know the distribution) joins every image the
 * repositories can give it to, unless the spec excludes it (parseSpec warns about that then;
 * baseFilesWarnings about repositories without it).
 */
function withBaseFiles(requests: PackageRequest[], spec: Spec, universe: Universe): PackageRequest[] {
  const name = "base-files";
  if (spec.exclude.includes(name) || requests.some((r) => r.name === name)) return requests;
  return universe.candidate(name) ? [...requests, { name }] : requests;
}

/**
 * With `essential: true`, every package the repositories mark Essential (and do not exclude) is
 * requested too: the shell and tools Debian's packages assume every system has (initdb runs sh).
 */
function withEssential(requests: PackageRequest[], spec: Spec, universe: Universe): PackageRequest[] {
  if (!spec.essential) return requests;
  const asked = new Set(requests.map((r) => r.name));
  const essential = [...universe.knownNames()]
    .filter((name) => !asked.has(name) && !spec.exclude.includes(name) && universe.candidate(name)?.essential)
    .sort();
  return [...requests, ...essential.map((name) => ({ name }))];
}

/** The architectures of a lock that lack base-files although the spec does not exclude it. */
export function baseFilesWarnings(spec: Spec, lock: Lock): string[] {
  if (spec.exclude.includes("base-files")) return [];
  return spec.archs
    .filter((arch) => !lock.packages.some((p) => p.arch === arch && p.name === "base-files"))
    .map(
      (arch) =>
        `${arch}: the repositories have no base-files, so the image has no /etc/os-release and scanners will not recognise its distribution`,
    );
}
