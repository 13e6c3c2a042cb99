import { matchAdvisories, releaseOfPackages } from "../advisories/match.js";
import { type AdvisorySource, indexAdvisories } from "../advisories/source.js";
import type { FleetIndex } from "../fleet/fleet-index.js";
import { artifactDescriptor, artifactImages } from "../oci/image.js";
import { formatReference, type ImageReference, parseReference } from "../oci/reference.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { pullArtifact } from "../oci/registry/pull.js";
import { type Decision, evaluatePolicy, type ImageFacts } from "../policy/evaluate.js";
import type { Policy } from "../policy/policy.js";
import { optionsFor, type RegistryScope } from "./registries.js";

/**
 * Decides about images by name, from the fleet index and the policy, reading no layer: a tag is
 * resolved to a digest through the registry (cached briefly: tags move, and runtimes pull by
 * digest after admission), and an image the index lacks is indexed on the spot.
 */
export interface DeciderOptions {
  policy: Policy;
  index: FleetIndex;
  registry?: RegistryClientOptions;
  /** Which registries are contacted and which one the explicit credentials go to. */
  scope?: RegistryScope;
  /** How long a tag's digest and an image's facts are reused (default 30 s). */
  cacheMs?: number;
  /** Index an image the index lacks when its registry has it (default true). */
  indexMissing?: boolean;
  /** The Debian release of images whose base-files does not say. */
  release?: string;
}

/** Facts of one platform image minus what depends on how it was named. */
type StoredFacts = Omit<ImageFacts, "reference" | "repository" | "pinned">;

class TtlCache<T> {
  private readonly entries = new Map<string, { value: Promise<T>; until: number }>();
  constructor(private readonly ttlMs: number) {}

  /** The cached value, or `make()`'s (shared by concurrent callers); a failure is not kept. */
  get(key: string, make: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.value;
    if (this.entries.size > 10_000) this.entries.clear();
    const value = make();
    this.entries.set(key, { value, until: now + this.ttlMs });
    value.catch(() => this.entries.delete(key));
    return value;
  }
}

export class ImageDecider {
  private readonly advisories: AdvisorySource;
  private readonly digests: TtlCache<string>;
  private readonly facts: TtlCache<StoredFacts[]>;
  private readonly decisions: TtlCache<Decision[]>;

  constructor(private readonly opts: DeciderOptions) {
    this.advisories = indexAdvisories(opts.index.db);
    this.digests = new TtlCache(opts.cacheMs ?? 30_000);
    this.facts = new TtlCache(opts.cacheMs ?? 30_000);
    this.decisions = new TtlCache(opts.cacheMs ?? 30_000);
  }

  /**
   * The policy's decision for each platform image an image name stands for. Decisions are reused
   * within the minute they were made in (and the cache's lifetime): exemptions expire by the day.
   */
  decide(image: string, now = new Date()): Promise<Decision[]> {
    return this.decisions.get(`${image} ${now.toISOString().slice(0, 16)}`, () => this.decideNow(image, now));
  }

  private async decideNow(image: string, now: Date): Promise<Decision[]> {
    const ref = parseReference(image);
    const registry = optionsFor(ref.registry, this.opts.registry, this.opts.scope ?? {});
    const digest =
      ref.digest ?? (await this.digests.get(formatReference(ref), () => this.pullAndIndex(ref, registry)));
    const stored = await this.facts.get(digest, () => this.storedFacts(ref, digest, registry));
    const repository = `${ref.registry}/${ref.repository}`;
    return stored.map((facts) =>
      evaluatePolicy(
        this.opts.policy,
        { ...facts, reference: image, repository, pinned: ref.digest !== undefined },
        now,
      ),
    );
  }

  /** Reads the artifact's manifests and configs from the registry, indexes it, and returns its digest. */
  private async pullAndIndex(ref: ImageReference, registry: RegistryClientOptions): Promise<string> {
    const pulled = await pullArtifact(ref, registry);
    const topDigest = artifactDescriptor(pulled).digest;
    if ((await this.manifestsUnder(topDigest)).length === 0 && this.opts.indexMissing !== false) {
      const name = {
        registry: ref.registry,
        repository: ref.repository,
        tag: ref.digest ? "" : (ref.tag ?? "latest"),
        topDigest,
      };
      for (const image of artifactImages(pulled))
        await this.opts.index.add(image, formatReference(ref), [name]);
    }
    return topDigest;
  }

  /** The manifest digests a digest names: itself when it is an indexed image, else the images of an indexed index. */
  private async manifestsUnder(digest: string): Promise<string[]> {
    const rows = await this.opts.index.db.all<{ digest: string; packages_from: string }>(
      `SELECT m.digest FROM manifests m WHERE m.digest = ?
       UNION SELECT m.digest FROM refs r JOIN manifests m ON m.id = r.manifest_id WHERE r.top_digest = ?`,
      [digest, digest],
    );
    return rows.map((r) => r.digest);
  }

  private async storedFacts(
    ref: ImageReference,
    digest: string,
    registry: RegistryClientOptions,
  ): Promise<StoredFacts[]> {
    let manifests = await this.manifestsUnder(digest);
    if (manifests.length === 0 && ref.digest !== undefined && this.opts.indexMissing !== false) {
      await this.pullAndIndex(ref, registry);
      manifests = await this.manifestsUnder(digest);
    }
    if (manifests.length === 0) throw new Error(`${formatReference(ref)} (${digest}) is not in the index`);
    return Promise.all(manifests.map((m) => this.manifestFacts(m)));
  }

  private async manifestFacts(digest: string): Promise<StoredFacts> {
    const db = this.opts.index.db;
    const packages = await this.opts.index.packagesOf(digest);
    const row = await db.get<{ packages_from: string }>(
      "SELECT packages_from FROM manifests WHERE digest = ?",
      [digest],
    );
    const installed = packages.map((p) => ({
      name: p.name,
      version: p.version,
      source: p.source || p.name,
      sourceVersion: p.sourceVersion || p.version,
    }));
    const release = releaseOfPackages(installed) ?? this.opts.release;
    const advisories =
      release === undefined
        ? []
        : await this.advisories.advisories(
            release,
            installed.map((p) => p.source),
          );
    const available = await this.advisories.available(installed.map((p) => p.name));
    return {
      digest,
      builtByStrata: row?.packages_from === "annotations",
      packages: installed,
      findings: matchAdvisories(installed, advisories, available),
    };
  }
}
