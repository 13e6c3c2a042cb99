import type { FleetIndex } from "../fleet/fleet-index.js";
import type { IndexedImageContents } from "../fleet/indexed-images.js";
import { artifactDescriptor, artifactImages } from "../oci/image.js";
import { formatReference, type ImageReference, parseReference } from "../oci/reference.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { pullArtifact } from "../oci/registry/pull.js";
import { type Decision, decisionValidUntil, evaluatePolicy, type Verification } from "../policy/evaluate.js";
import type { Policy } from "../policy/policy.js";
import {
  anyKeyVerdict,
  type KeyVerdict,
  provenanceVerdict,
  signaturesOf,
  verdictFor,
} from "../sign/sign-image.js";
import type { StoredSignature } from "../sign/signature-store.js";
import { BoundedCache, type CacheCounts } from "../util/bounded-cache.js";
import { Limiter } from "../util/concurrency.js";
import type { VexClaim } from "../vex/read.js";
import { type FactsCounts, IndexedFacts } from "./image-facts.js";
import { optionsFor, type RegistryScope } from "./registries.js";

/**
 * Decides about images by name, from the fleet index and the policy, reading no layer: a tag is
 * resolved to a digest through the registry (cached briefly: tags move, and runtimes pull by
 * digest after admission), an image's facts are kept until the index changes (image-facts.ts), and
 * an image the index lacks is indexed on the spot unless `indexMissing` is false (the webhook's
 * choice: indexing is `index add|sync`'s job). `audit` and the webhook decide here.
 */
export interface DeciderOptions {
  policy: Policy;
  index: FleetIndex;
  registry?: RegistryClientOptions;
  /** Which registries are contacted and which one the explicit credentials go to. */
  scope?: RegistryScope;
  /** How long a tag's digest, a signature and a decision are reused, and a failure kept (default 30 s). */
  cacheMs?: number;
  /** How often the index's change counters are read at most (default 1000 ms): the staleness bound. */
  refreshMs?: number;
  /** Images (and names, and decisions) kept at most in each cache (default 20,000). */
  maxImages?: number;
  /** Index an image the index lacks when its registry has it (default true). */
  indexMissing?: boolean;
  /** Registry fetches in flight at once, across every decision (default 16). */
  maxFetches?: number;
  /** The Debian release of images whose base-files does not say. */
  release?: string;
  /** VEX claims (files given at start) whose statements take findings out of every decision. */
  vex?: VexClaim[];
}

/** When a decision's registry fetches must be over: each is cancelled then (the review's deadline). */
export interface FetchDeadline {
  signal: AbortSignal;
  /** Epoch milliseconds; a connection still opening then is dropped. */
  at: number;
}

/** How one image's registry is contacted: its client options, and the deadline of the review. */
interface Source {
  options: RegistryClientOptions;
  deadline?: FetchDeadline;
}

/** The image at `digest` in `ref`'s repository, as an image location: what is signed is the digest, not a tag. */
function pinnedLocation(ref: ImageReference, digest: string) {
  const pinned = { registry: ref.registry, repository: ref.repository, digest };
  return { transport: "docker" as const, ref: pinned, text: formatReference(pinned) };
}

/** Decisions about one image name, and the span of time (epoch ms) they hold for. */
interface KeptDecisions {
  decisions: Decision[];
  /** When they were made: a caller asking about an earlier time gets them made anew. */
  at: number;
  /** When a grace period ends or an exemption expires, and they may change. */
  validUntil: number;
}

/** What the failure policy decides on: an image the index lacks at a registry that may not be asked. */
function notFetchable(ref: ImageReference): Error {
  return new Error(
    `${formatReference(ref)}: not in the index and registry ${ref.registry} may not be fetched (--allow-registry)`,
  );
}

export class ImageDecider {
  /** What the index says about images, kept until the index changes. */
  private readonly facts: IndexedFacts;
  private readonly digests: BoundedCache<string>;
  private readonly decisions: BoundedCache<KeptDecisions>;
  /** cosign signatures stored for a repository@digest, fetched once for every key. */
  private readonly signatures: BoundedCache<StoredSignature[]>;
  /** Whether a key signed a digest: per (digest, key fingerprint), so a signed image is verified once. */
  private readonly verdicts: BoundedCache<KeyVerdict>;
  /** Whether a signed provenance is the image's: per (digest, the policy's keys). */
  private readonly provenances: BoundedCache<Verification>;
  /** One cap on registry fetches for all reviews: many images must not become many connections. */
  private readonly fetches: Limiter;

  constructor(private readonly opts: DeciderOptions) {
    const ttlMs = opts.cacheMs ?? 30_000;
    const maxEntries = opts.maxImages ?? 20_000;
    this.facts = new IndexedFacts(opts.index, {
      release: opts.release,
      vex: opts.vex,
      refreshMs: opts.refreshMs,
      maxImages: maxEntries,
      failureMs: ttlMs,
    });
    const cache = <T>() => new BoundedCache<T>({ ttlMs, maxEntries });
    this.digests = cache();
    // A decision in use is made again in the background before it expires: a busy image never
    // waits for its decision (the webhook's tail latency was these waves of re-decisions).
    this.decisions = new BoundedCache({ ttlMs, maxEntries, refreshAfterMs: ttlMs / 2 });
    this.signatures = cache();
    this.verdicts = cache();
    this.provenances = cache();
    this.fetches = new Limiter(opts.maxFetches ?? 16);
  }

  /**
   * The policy's decision for each platform image an image name stands for. A decision is reused
   * while the index is unchanged (its facts are the index's as of `stamp`), until a grace period
   * ends or an exemption expires (decisionValidUntil), and for at most `cacheMs` (tags move,
   * signatures come), made again in the background when it is half that old. Concurrent callers
   * of one name share one decision. Every registry fetch the decision starts is cancelled at
   * `deadline`.
   */
  async decide(
    image: string,
    now = new Date(),
    deadline?: FetchDeadline,
    running?: string,
  ): Promise<Decision[]> {
    const stamp = await this.facts.stamp();
    const key = `${image} ${running ?? ""} ${stamp}`;
    const make = () => this.decideNow(image, now, stamp, deadline, running);
    const kept = await this.decisions.get(key, make);
    const at = now.getTime();
    if (at >= kept.at && at < kept.validUntil) return kept.decisions;
    this.decisions.delete(key);
    return (await this.decisions.get(key, make)).decisions;
  }

  /** The index's state decisions are keyed by; it changes when images or advisories do. */
  stamp(): Promise<string> {
    return this.facts.stamp();
  }

  /** The index decisions are read from. */
  get index(): FleetIndex {
    return this.opts.index;
  }

  /** Reads and keeps the facts of the images `digest` names, unless kept already (warming up). */
  async prepare(digest: string): Promise<void> {
    const stamp = await this.facts.stamp();
    if (this.facts.holds(digest, stamp)) return;
    await this.facts.of(digest, stamp, async () => {
      const images = await this.opts.index.imagesUnder(digest);
      // Kept facts of no image would allow a pod: an unknown digest is a failure, decided as one.
      if (images.length === 0) throw new Error(`${digest} is not in the index (strata index add indexes it)`);
      return images;
    });
  }

  /** Counts for metrics: facts evaluated and kept, and decisions reused. */
  counts(): { facts: FactsCounts; decisions: CacheCounts } {
    return { facts: this.facts.counts(), decisions: this.decisions.stats() };
  }

  /**
   * `image` as named (by a pod spec: whether it is pinned); `running`, the digest reference a
   * runtime reports for it (`audit`), when the content judged is that one rather than the name's.
   */
  private async decideNow(
    image: string,
    now: Date,
    stamp: string,
    deadline: FetchDeadline | undefined,
    running?: string,
  ): Promise<KeptDecisions> {
    const named = parseReference(image);
    const ref = running === undefined ? named : parseReference(running);
    const options = optionsFor(ref.registry, this.opts.registry, this.opts.scope ?? {});
    const registry = options && { options, deadline };
    const digest =
      ref.digest ?? (await this.digests.get(formatReference(ref), () => this.resolveTag(ref, registry)));
    const stored = await this.facts.of(digest, stamp, () => this.indexedImages(ref, digest, registry));
    const signature = await this.signatureVerdict(ref, digest, registry);
    const provenance = await this.provenanceVerdict(ref, digest, registry);
    const repository = `${ref.registry}/${ref.repository}`;
    const pinned = named.digest !== undefined;
    const judged = stored.map((facts) => ({
      ...facts,
      reference: image,
      repository,
      pinned,
      signature,
      provenance,
    }));
    const { policy } = this.opts;
    return {
      decisions: judged.map((facts) => evaluatePolicy(policy, facts, now)),
      at: now.getTime(),
      validUntil: Math.min(...judged.map((facts) => decisionValidUntil(policy, facts, now))),
    };
  }

  /**
   * Whether a key of the policy's `signed-by` signed `digest` (the one the pod pulls), from the
   * signatures in the image's repository; undefined when the policy asks for none. Only the
   * registry the image is in is contacted, and only when the allow-list lets it be.
   */
  private async signatureVerdict(
    ref: ImageReference,
    digest: string,
    registry: Source | undefined,
  ): Promise<Verification | undefined> {
    const keys = this.opts.policy.require.signedBy;
    if (keys.length === 0) return undefined;
    const repository = `${ref.registry}/${ref.repository}`;
    const location = pinnedLocation(ref, digest);
    const signatures = () =>
      this.signatures.get(`${repository}@${digest}`, () =>
        this.fetching(ref, registry, (options) => signaturesOf(location, digest, options)),
      );
    const verdicts = await Promise.all(
      keys.map((k) =>
        this.verdicts.get(`${digest} ${k.fingerprint}`, async () =>
          verdictFor(k.key, digest, await signatures(), repository),
        ),
      ),
    );
    return anyKeyVerdict(verdicts);
  }

  /** With `require: provenance`, whether a provenance signed by a `signed-by` key is the image's. */
  private async provenanceVerdict(
    ref: ImageReference,
    digest: string,
    registry: Source | undefined,
  ): Promise<Verification | undefined> {
    const { provenance, signedBy } = this.opts.policy.require;
    if (!provenance) return undefined;
    const cacheKey = `${digest} ${signedBy.map((k) => k.fingerprint).join(",")}`;
    return this.provenances.get(cacheKey, () =>
      this.fetching(ref, registry, async (options) => {
        const location = pinnedLocation(ref, digest);
        const artifact = await pullArtifact(location.ref, options);
        return provenanceVerdict(
          location,
          artifact,
          signedBy.map((k) => k.key),
          options,
        );
      }),
    );
  }

  /**
   * Runs one registry fetch under the shared cap, refusing one its scope forbids and one whose
   * review's deadline passed while it waited for its turn.
   */
  private fetching<T>(
    ref: ImageReference,
    registry: Source | undefined,
    fetch: (options: RegistryClientOptions) => Promise<T>,
  ): Promise<T> {
    if (registry === undefined) return Promise.reject(notFetchable(ref));
    const { options, deadline } = registry;
    return this.fetches.run(() => {
      if (deadline === undefined) return fetch(options);
      if (deadline.signal.aborted) throw new Error("not fetched: the review's deadline passed first");
      const connectTimeoutMs = Math.max(1, deadline.at - Date.now());
      return fetch({ ...options, signal: deadline.signal, connectTimeoutMs });
    });
  }

  /** A tag's digest, from its registry (the index is not asked: a tag moves). */
  private resolveTag(ref: ImageReference, registry: Source | undefined): Promise<string> {
    return this.fetching(ref, registry, (options) => this.pullAndIndex(ref, options));
  }

  /**
   * Reads the artifact's manifests and configs from the registry, indexes it when `indexMissing`
   * allows, and returns its digest.
   */
  private async pullAndIndex(ref: ImageReference, registry: RegistryClientOptions): Promise<string> {
    const pulled = await pullArtifact(ref, registry);
    const topDigest = artifactDescriptor(pulled).digest;
    if ((await this.opts.index.manifestsUnder(topDigest)).length === 0 && this.opts.indexMissing !== false) {
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

  /** The images `digest` names in the index, indexing them first when `indexMissing` allows. */
  private async indexedImages(
    ref: ImageReference,
    digest: string,
    registry: Source | undefined,
  ): Promise<IndexedImageContents[]> {
    const index = this.opts.index;
    let images = await index.imagesUnder(digest);
    if (images.length === 0 && ref.digest !== undefined && this.opts.indexMissing !== false) {
      await this.fetching(ref, registry, (options) => this.pullAndIndex(ref, options));
      images = await index.imagesUnder(digest);
    }
    if (images.length === 0 && registry === undefined) throw notFetchable(ref);
    if (images.length === 0)
      throw new Error(
        `${formatReference(ref)} (${digest}) is not in the index (strata index add indexes it)`,
      );
    return images;
  }
}
