import { createHash } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { SkippedEffect } from "../debian/maintscripts.js";
import { checkEntrypoint } from "../effects/entrypoint.js";
import { nativeEffects } from "../effects/native-effects.js";
import { shipEntries } from "../effects/script-facts.js";
import {
  baseLayerEntries,
  buildBaseLayer,
  buildEntriesLayer,
  withParentsFrom,
} from "../layers/base-layer.js";
import { buildGroupLayer } from "../layers/group-layer.js";
import {
  assertLockedMembers,
  type LayerBlob,
  type LayerEntry,
  type PackageLayerInput,
  type PackageLayerRecord,
} from "../layers/layer.js";
import { LayerCache, type LayerCacheKey } from "../layers/layer-cache.js";
import { LayerPool } from "../layers/layer-pool.js";
import { OverlapChecker, pathsOf } from "../layers/overlaps.js";
import { type LayerPlan, planLayers } from "../layers/planner.js";
import type { Lock, LockedPackage } from "../lock/lock.js";
import { type Compression, resolveCompression } from "../oci/compress.js";
import { type Artifact, type BlobSource, descriptorOf, type Image, jsonBytes } from "../oci/image.js";
import { digestHex, type Index, MediaType } from "../oci/types.js";
import { specAccounts } from "../spec/accounts.js";
import { buildEpoch, type Spec } from "../spec/spec.js";
import { specFileEntries } from "../spec/spec-files.js";
import { ContentStore } from "../util/cas.js";
import { cacheRoot as defaultCacheRoot } from "../util/dirs.js";
import { sha256Hex } from "../util/hash.js";
import { compareText } from "../util/order.js";
import { debStore, startDebFetches } from "./fetch-debs.js";
import { assembleImage, type ImageLayer, ociPlatform } from "./image-config.js";

export type BuildEvent =
  | { kind: "fetched"; pkg: LockedPackage; cached: boolean }
  | { kind: "layer"; arch: string; what: string; cached: boolean }
  | { kind: "note"; message: string };

export interface BuildOptions {
  cacheRoot?: string;
  /** Worker threads for layers (default: cores, at most 4). */
  jobs?: number;
  onEvent?: (e: BuildEvent) => void;
  /** Called once the work is known, for progress displays: layers to assemble, .debs to fetch. */
  onPlan?: (work: { layers: number; debs: number }) => void;
}

export interface BuiltImage {
  arch: string;
  image: Image;
  layers: ImageLayer[];
}

export interface BuildResult {
  artifact: Artifact;
  images: BuiltImage[];
  /** Packages whose maintainer scripts were not run (strata never runs them). */
  skippedScripts: string[];
  /** What those scripts would have done that strata did not do, one entry per command, with why. */
  skippedEffects: SkippedEffect[];
  /** Paths shipped by more than one package, with who won. */
  overlaps: string[];
  epoch: number;
}

/** Blobs of built images: layers from the content store, configs from memory. */
class BuiltBlobs implements BlobSource {
  private readonly configs = new Map<string, Buffer>();

  constructor(private readonly store: ContentStore) {}

  addConfig(bytes: Buffer): void {
    this.configs.set(descriptorOf(MediaType.ociConfig, bytes).digest, bytes);
  }

  async open(digest: string): Promise<Readable> {
    const config = this.configs.get(digest);
    if (config) return Readable.from([config]);
    return this.store.open(digestHex(digest));
  }

  localPath(digest: string): string | undefined {
    return this.configs.has(digest) ? undefined : this.store.path(digestHex(digest));
  }
}

interface PlannedLayer {
  layer: LayerPlan;
  key: LayerCacheKey;
}

interface MadeLayer {
  record: PackageLayerRecord;
  cached: boolean;
  overlaps: string[];
}

/** A layer's cache key: the .deb's sha256, or for a group the sha256 of its members' sorted sha256s. */
function layerKey(
  plan: LayerPlan,
  epoch: number,
  keepDocs: boolean,
  compression: Compression,
): LayerCacheKey {
  const debSha256 =
    plan.kind === "package"
      ? plan.packages[0].sha256
      : sha256Hex(
          plan.packages
            .map((p) => p.sha256)
            .sort()
            .join("\n"),
        );
  return { debSha256, epoch, keepDocs, compression };
}

/**
 * An in-memory layer (base, files) through the same cache as package layers, keyed by the sha256
 * of its entries, so a warm build compresses nothing at all.
 */
async function cachedEntriesLayer(
  cache: LayerCache,
  entries: LayerEntry[],
  build: () => Promise<LayerBlob>,
  key: Omit<LayerCacheKey, "debSha256">,
): Promise<LayerBlob> {
  const digest = createHash("sha256");
  for (const e of [...entries].sort((a, b) => compareText(a.path, b.path))) {
    digest.update(JSON.stringify({ ...e, body: undefined }));
    digest.update(e.body ?? Buffer.alloc(0));
  }
  const fullKey = { ...key, debSha256: `entries:${digest.digest("hex")}` };
  const hit = await cache.get(fullKey);
  if (hit) return hit;
  const blob = await build();
  await cache.put(fullKey, { ...blob, members: [] });
  return blob;
}

/**
 * Builds the images a locked spec describes, one per architecture (an index when there are several).
 * Each planned layer is looked up in the layer cache first; only the .debs of layers that miss are
 * fetched and turned into layers (on worker threads). Then the base and files layers, config and
 * manifest. Same spec and lock give the same digests, cold or warm; a warm build reads no .deb.
 */
export async function buildImages(spec: Spec, lock: Lock, opts: BuildOptions = {}): Promise<BuildResult> {
  const root = defaultCacheRoot(opts.cacheRoot);
  const storeRoot = join(root, "blobs");
  const store = new ContentStore(storeRoot);
  const epoch = buildEpoch(spec);
  const compression: Compression = resolveCompression(spec.layers.compression);
  const layerCache = new LayerCache(root, storeRoot);
  const blobs = new BuiltBlobs(store);
  await Promise.all([store.sweepStale(), debStore(opts.cacheRoot).sweepStale()]);

  const plans = spec.archs.map((arch) => {
    const plan = planLayers(
      lock.packages.filter((p) => p.arch === arch),
      spec.layers.max,
    );
    return {
      arch,
      layers: plan.map((layer) => ({ layer, key: layerKey(layer, epoch, spec.docs, compression) })),
    };
  });
  // Cache first: only layers that miss need their .debs.
  const hits = new Map<string, PackageLayerRecord>();
  const missing: LockedPackage[] = [];
  for (const { layers } of plans) {
    for (const { layer, key } of layers) {
      const record = await layerCache.get(key);
      if (record) assertLockedMembers(record, layer.packages);
      if (record) hits.set(LayerCache.keyText(key), record);
      else missing.push(...layer.packages);
    }
  }
  opts.onPlan?.({
    layers: plans.reduce((n, p) => n + p.layers.length + 2, 0),
    debs: new Set(missing.map((p) => p.sha256)).size,
  });
  // Layers are made as their .debs arrive, not after the last download.
  const debPaths = startDebFetches(missing, {
    cacheRoot: opts.cacheRoot,
    onEvent: (e) => opts.onEvent?.({ kind: "fetched", pkg: e.pkg, cached: e.status === "cached" }),
  });
  const inputFor = async (p: LockedPackage): Promise<PackageLayerInput> => ({
    debPath: await debPaths.get(p.sha256)!,
    debSha256: p.sha256,
    store: storeRoot,
    epoch,
    compression,
    keepDocs: spec.docs,
    locked: { name: p.name, version: p.version, architecture: p.architecture },
  });

  // Made up front (its workers start with the first job), so a .deb that arrives after a failure
  // meets the closed pool and is refused, instead of starting workers nobody terminates.
  const pool = new LayerPool(opts.jobs);
  const skipped = new Set<string>();
  const overlaps: string[] = [];
  const skippedEffects: SkippedEffect[] = [];
  const images: BuiltImage[] = [];
  // Every architecture's layers are started at once, so both cores stay busy across archs.
  const makeLayer = async (arch: string, { layer, key }: PlannedLayer): Promise<MadeLayer> => {
    const hit = hits.get(LayerCache.keyText(key));
    let result: MadeLayer;
    if (hit) result = { record: hit, cached: true, overlaps: [] };
    else if (layer.kind === "package") {
      const record = await pool.build(await inputFor(layer.packages[0]));
      await layerCache.put(key, record);
      result = { record, cached: false, overlaps: [] };
    } else {
      result = await buildGroupLayer(await Promise.all(layer.packages.map(inputFor)), layerCache, key, arch);
    }
    opts.onEvent?.({ kind: "layer", arch, what: describePlan(layer), cached: result.cached });
    return result;
  };
  const pending = plans.map(({ arch, layers }) => Promise.all(layers.map((l) => makeLayer(arch, l))));
  // The first failure of any architecture ends the build at once.
  const allBuilt = Promise.all(pending);
  try {
    for (const [archIndex, { arch, layers: planned }] of plans.entries()) {
      const built = (await allBuilt)[archIndex];
      const accounts = specAccounts(spec);
      const baseEntries = baseLayerEntries(arch, accounts);
      const checker = new OverlapChecker(arch, pathsOf(baseEntries));
      const packageLayers: ImageLayer[] = built.map(({ record, overlaps: inner }, i) => {
        overlaps.push(...inner);
        checker.add(record.members, record);
        for (const m of record.members) if (m.scripts.length > 0) skipped.add(m.package);
        return {
          blob: record,
          kind: planned[i].layer.kind,
          packages: planned[i].layer.packages.map((p) => `${p.name}=${p.version}`),
        };
      });
      overlaps.push(...checker.notes);

      const keyBase = { epoch, keepDocs: false, compression };
      const base = await cachedEntriesLayer(
        layerCache,
        baseEntries,
        () => buildBaseLayer({ architecture: arch, accounts, store: storeRoot, epoch, compression }),
        keyBase,
      );
      opts.onEvent?.({ kind: "layer", arch, what: "base", cached: false });
      const effects = await nativeEffects({
        members: built.flatMap((b) => b.record.members),
        storeRoot,
        architecture: arch,
        baseEntries,
        accounts,
        epoch,
        files: [...base.files, ...built.flatMap((b) => b.record.files)],
      });
      for (const note of effects.notes) opts.onEvent?.({ kind: "note", message: `${arch}: ${note}` });
      skippedEffects.push(...effects.skipped);
      const specFiles = await specFileEntries(spec);
      // The spec's own files win over what scripts made at the same path.
      const specPaths = new Set(specFiles.map((f) => f.path.replace(/^\/+/, "")));
      shipEntries(effects.tree, specFiles);
      checkEntrypoint(effects.tree, spec, effects.accounts, arch);
      // Parents the base layer has keep its modes and owners (/tmp 1777, /root 0700, homes).
      const fileEntries = withParentsFrom(
        [...effects.entries.filter((e) => !specPaths.has(e.path)), ...specFiles],
        baseEntries,
      );
      const files = await cachedEntriesLayer(
        layerCache,
        fileEntries,
        () => buildEntriesLayer({ entries: fileEntries, store: storeRoot, epoch, compression }),
        keyBase,
      );
      opts.onEvent?.({ kind: "layer", arch, what: "files", cached: false });
      const layers: ImageLayer[] = [
        { blob: base, kind: "base", packages: [] },
        ...packageLayers,
        { blob: files, kind: "files", packages: [] },
      ];
      const image = assembleImage(spec, arch, layers, epoch, blobs);
      blobs.addConfig(image.configBytes);
      images.push({ arch, image, layers });
    }
  } finally {
    await pool.close();
  }
  return {
    artifact: toArtifact(images),
    images,
    skippedScripts: [...skipped].sort(),
    skippedEffects: uniqueEffects(skippedEffects),
    overlaps,
    epoch,
  };
}

/** Each skipped effect once, though every architecture's image reports it. */
function uniqueEffects(effects: SkippedEffect[]): SkippedEffect[] {
  return [...new Map(effects.map((e) => [JSON.stringify(e), e])).values()];
}

function describePlan(layer: LayerPlan): string {
  return layer.kind === "package"
    ? `${layer.packages[0].name} ${layer.packages[0].version}`
    : `group of ${layer.packages.length} packages`;
}

function toArtifact(images: BuiltImage[]): Artifact {
  if (images.length === 1) return { kind: "image", image: images[0].image };
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: images.map(({ arch, image }) =>
      descriptorOf(image.manifest.mediaType, image.manifestBytes, {
        platform: { ...ociPlatform(arch), os: "linux" },
      }),
    ),
  };
  return {
    kind: "index",
    index: { index, indexBytes: jsonBytes(index), images: images.map((i) => i.image) },
  };
}

export type { LayerBlob };
