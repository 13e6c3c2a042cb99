import { startDebFetches } from "../debian/fetch-debs.js";
import { buildGroupLayer } from "../layers/group-layer.js";
import { assertLockedMembers, type PackageLayerInput, type PackageLayerRecord } from "../layers/layer.js";
import { LayerCache } from "../layers/layer-cache.js";
import { encodeLayerFacts } from "../layers/layer-facts.js";
import { LayerPool } from "../layers/layer-pool.js";
import type { LockedPackage } from "../lock/lock.js";
import type { BlobSource } from "../oci/image.js";
import { mapLimit } from "../util/concurrency.js";
import { StrataError } from "../util/errors.js";
import { type ArchPlan, describePlan, type LayerOptions, type PlannedLayer } from "./plan.js";
import type { ReusedLayer, ReuseIndex } from "./reuse.js";

export type BuildEvent =
  | { kind: "fetched"; pkg: LockedPackage; cached: boolean }
  | { kind: "layer"; arch: string; what: string; cached: boolean; reusedFrom?: string }
  | { kind: "note"; message: string };

/** A package or group layer, made or found in the cache. */
export interface MadeLayer {
  record: PackageLayerRecord;
  cached: boolean;
  /** Paths two members of a group ship, with who won. */
  overlaps: string[];
  /** Where its bytes are, when it was taken from an image (else the content store). */
  bytes?: BlobSource;
}

export interface MakerContext {
  cacheRoot?: string;
  storeRoot: string;
  layerCache: LayerCache;
  options: LayerOptions;
  jobs?: number;
  onEvent?: (e: BuildEvent) => void;
  /** Layers of existing images that may be taken by descriptor. */
  reuse?: ReuseIndex;
}

/**
 * The second step of a build: the planned package layers, each from the layer cache, or made from
 * its .debs (fetched only for layers that miss) on worker threads as the .debs arrive.
 */
const LOOKUPS_AT_ONCE = 4;

export class LayerMaker {
  private readonly hits = new Map<string, PackageLayerRecord>();
  private readonly reused = new Map<string, ReusedLayer>();
  private debPaths = new Map<string, Promise<string>>();
  // Made up front (its workers start with the first job), so a .deb that arrives after a failure
  // meets the closed pool and is refused, instead of starting workers nobody terminates.
  private readonly pool: LayerPool;

  constructor(private readonly ctx: MakerContext) {
    this.pool = new LayerPool(ctx.jobs);
  }

  /**
   * Looks every planned layer up in the cache, then in the images to reuse; returns the packages
   * whose .debs are needed (those of layers found in neither).
   */
  async lookUp(archs: ArchPlan[]): Promise<LockedPackage[]> {
    // Each hit hashes its cached blob: a few at once, so reading one overlaps hashing another.
    const planned = archs.flatMap((a) => a.layers);
    const found = await mapLimit(planned, LOOKUPS_AT_ONCE, (p) => this.ctx.layerCache.get(p.key));
    const missing: LockedPackage[] = [];
    for (const [i, p] of planned.entries()) {
      const keyText = LayerCache.keyText(p.key);
      const record = found[i];
      if (record) assertLockedMembers(record, p.layer.packages);
      if (record) this.hits.set(keyText, record);
      else if (!(await this.tryReuse(p, keyText))) missing.push(...p.layer.packages);
    }
    return missing;
  }

  /** Takes a planned layer from an image to reuse; one whose annotations fail their checks is made instead. */
  private async tryReuse(planned: PlannedLayer, keyText: string): Promise<boolean> {
    const { reuse } = this.ctx;
    if (this.reused.has(keyText)) return true;
    if (!reuse?.has(planned)) return false;
    try {
      this.reused.set(keyText, await reuse.take(planned, this.ctx.storeRoot));
      return true;
    } catch (err) {
      if (!(err instanceof StrataError)) throw err;
      const message = `not reusing ${describePlan(planned.layer)}: ${err.message}`;
      this.ctx.onEvent?.({ kind: "note", message });
      return false;
    }
  }

  /** Starts fetching the .debs of `missing` (each once), so layers are made as they arrive. */
  fetch(missing: LockedPackage[]): void {
    this.debPaths = startDebFetches(missing, {
      cacheRoot: this.ctx.cacheRoot,
      onEvent: (e) => this.ctx.onEvent?.({ kind: "fetched", pkg: e.pkg, cached: e.status === "cached" }),
    });
  }

  async make(arch: string, { layer, key }: PlannedLayer): Promise<MadeLayer> {
    const hit = this.hits.get(LayerCache.keyText(key));
    const reused = this.reused.get(LayerCache.keyText(key));
    let result: MadeLayer;
    if (hit) result = { record: hit, cached: true, overlaps: [] };
    else if (reused) result = { record: reused.record, cached: true, overlaps: [], bytes: reused.bytes };
    else if (layer.kind === "package") {
      const record = await this.pool.build(await this.inputFor(layer.packages[0]));
      await this.ctx.layerCache.put(key, record);
      result = { record, cached: false, overlaps: [] };
    } else {
      const inputs = await Promise.all(layer.packages.map((p) => this.inputFor(p)));
      result = await buildGroupLayer(inputs, this.ctx.layerCache, key, arch);
    }
    const what = describePlan(layer);
    this.ctx.onEvent?.({ kind: "layer", arch, what, cached: result.cached, reusedFrom: reused?.where });
    return result;
  }

  /** The layer's facts as its annotation holds them: encoded once, then kept in its cache entry. */
  async factsAnnotation({ key }: PlannedLayer, record: PackageLayerRecord): Promise<string> {
    if (record.factsAnnotation !== undefined) return record.factsAnnotation;
    const text = await encodeLayerFacts(record.members, this.ctx.storeRoot);
    await this.ctx.layerCache.put(key, { ...record, factsAnnotation: text });
    return text;
  }

  close(): Promise<void> {
    return this.pool.close();
  }

  private async inputFor(p: LockedPackage): Promise<PackageLayerInput> {
    return {
      debPath: await this.debPaths.get(p.sha256)!,
      debSha256: p.sha256,
      store: this.ctx.storeRoot,
      cacheRoot: this.ctx.cacheRoot,
      ...this.ctx.options,
      locked: { name: p.name, version: p.version, architecture: p.architecture },
    };
  }
}
