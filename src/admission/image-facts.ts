import type { Advisory } from "../advisories/advisory.js";
import { type ReleaseCoverage, releaseCoverage } from "../advisories/coverage.js";
import { type Available, matchAdvisories, releaseOfPackages } from "../advisories/match.js";
import type { AdvisorySource } from "../advisories/source.js";
import { GenerationWatch } from "../database/generations.js";
import type { FleetIndex } from "../fleet/fleet-index.js";
import type { IndexedImageContents } from "../fleet/indexed-images.js";
import type { ImageFacts } from "../policy/evaluate.js";
import { BoundedCache, type CacheCounts } from "../util/bounded-cache.js";
import { Canonical } from "../util/canonical.js";
import { splitByVex } from "../vex/apply.js";
import type { VexClaim } from "../vex/read.js";

/** Facts of one platform image minus what depends on how it was named or on a registry. */
export type StoredFacts = Omit<ImageFacts, "reference" | "repository" | "pinned" | "signature">;

export interface IndexedFactsOptions {
  /** The Debian release of images whose base-files does not say. */
  release?: string;
  /** VEX claims given at start: fixed for the life of these facts. */
  vex?: VexClaim[];
  /** How often the index's change counters are read at most (default 1000 ms). */
  refreshMs?: number;
  /** Images whose facts are kept at most (default 20,000). */
  maxImages?: number;
  /** How long a failure to read an image is kept (default 30 s). */
  failureMs?: number;
}

/** Counts for metrics: facts evaluated (one index read each) and the cache of them. */
export interface FactsCounts extends CacheCounts {
  evaluations: number;
}

/**
 * What the index says about images, kept per (digest, images generation, advisories generation):
 * a new feed or a change of the images (add, sync, remove, prune) makes the next decision read
 * afresh, found by one tiny read of the change counters at most every `refreshMs`. Nothing else
 * ages them (the policy and the VEX claims are fixed for the decider's life), so an image reviewed
 * once is decided from memory until the index changes. Concurrent first reviews share one read.
 */
export class IndexedFacts {
  private readonly advisories: AdvisorySource;
  private readonly generations: GenerationWatch;
  private readonly facts: BoundedCache<StoredFacts[]>;
  /** What speaks for a release, per (release, stamp): one read for all images. */
  private readonly coverage: BoundedCache<ReleaseCoverage>;
  /** Packages and findings shared by the kept images: thousands of images, a few copies. */
  private readonly canonical = new Canonical();
  private evaluations = 0;

  constructor(
    index: FleetIndex,
    private readonly opts: IndexedFactsOptions = {},
  ) {
    this.advisories = index.advisories;
    this.generations = new GenerationWatch(() => index.generations(), opts.refreshMs ?? 1000);
    const failureTtlMs = opts.failureMs ?? 30_000;
    this.facts = new BoundedCache({ ttlMs: Infinity, failureTtlMs, maxEntries: opts.maxImages ?? 20_000 });
    this.coverage = new BoundedCache({ ttlMs: Infinity, failureTtlMs, maxEntries: 64 });
  }

  /** The index's state as the facts are keyed by: "images.advisories" generations. */
  async stamp(): Promise<string> {
    const g = await this.generations.current();
    return `${g.images}.${g.advisories}`;
  }

  /** The facts of the images `digest` names as of `stamp`; `read` reads them from the index. */
  of(digest: string, stamp: string, read: () => Promise<IndexedImageContents[]>): Promise<StoredFacts[]> {
    return this.facts.get(`${digest} ${stamp}`, async () => this.evaluate(await read(), stamp));
  }

  /** Whether the facts of `digest` as of `stamp` are at hand (or being read). */
  holds(digest: string, stamp: string): boolean {
    return this.facts.has(`${digest} ${stamp}`);
  }

  counts(): FactsCounts {
    return { ...this.facts.stats(), evaluations: this.evaluations };
  }

  /**
   * Matches the images' packages against the stored advisories: one read of advisories per
   * release and one of the versions offered, whatever the number of platforms.
   */
  private async evaluate(images: IndexedImageContents[], stamp: string): Promise<StoredFacts[]> {
    this.evaluations++;
    const releases = images.map((i) => releaseOfPackages(i.packages) ?? this.opts.release);
    const sources = new Map<string, Set<string>>();
    for (const [i, release] of releases.entries()) {
      if (release === undefined) continue;
      const set = sources.get(release) ?? new Set();
      for (const p of images[i].packages) set.add(p.source);
      sources.set(release, set);
    }
    const names = [...new Set(images.flatMap((i) => i.packages.map((p) => p.name)))];
    const [available, ...perRelease] = await Promise.all([
      this.advisories.available(names),
      ...[...sources].map(async ([release, of]) => ({
        release,
        advisories: await this.advisories.advisories(release, [...of]),
        coverage: await this.coverageOf(release, stamp),
      })),
    ]);
    const byRelease = new Map(perRelease.map((r) => [r.release, r]));
    return images.map((image, i) => {
      const release = releases[i] === undefined ? undefined : byRelease.get(releases[i]);
      return this.factsOfImage(image, release?.advisories ?? [], available, release?.coverage);
    });
  }

  private coverageOf(release: string, stamp: string): Promise<ReleaseCoverage> {
    return this.coverage.get(`${release} ${stamp}`, async () =>
      releaseCoverage(release, await this.advisories.coverage(release)),
    );
  }

  private factsOfImage(
    image: IndexedImageContents,
    advisories: Advisory[],
    available: Map<string, Available>,
    coverage: ReleaseCoverage | undefined,
  ): StoredFacts {
    const installed = image.packages.map(({ name, version, source, sourceVersion }) =>
      this.canonical.of(`${name}\0${version}\0${source}\0${sourceVersion}`, {
        name,
        version,
        source,
        sourceVersion,
      }),
    );
    const arch = new Map(image.packages.map((p) => [`${p.name}=${p.version}`, p.architecture || undefined]));
    const architecture = (name: string, version: string) => arch.get(`${name}=${version}`);
    const matched = matchAdvisories(installed, advisories, available);
    const { findings, suppressed } = splitByVex(
      matched,
      { digest: image.digest, architecture },
      this.opts.vex ?? [],
    );
    return {
      digest: image.digest,
      builtByStrata: image.builtByStrata,
      packages: installed,
      findings: findings.map((f) => this.canonical.of(JSON.stringify(f), f)),
      ...(suppressed.length > 0 && { suppressed }),
      coverage,
    };
  }
}
