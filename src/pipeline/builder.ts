import { join } from "node:path";
import { debStore } from "../debian/fetch-debs.js";
import type { SkippedEffect } from "../debian/maintscripts.js";
import { LayerCache } from "../layers/layer-cache.js";
import type { Lock } from "../lock/lock.js";
import type { Artifact, BlobSource, Image } from "../oci/image.js";
import type { LayerEntry } from "../oci/layer-entry.js";
import { composeArtifact } from "../oci/mutate.js";
import { ociPlatform } from "../oci/platform.js";
import { digestHex } from "../oci/types.js";
import { packageLayerRecord } from "../record/layer-record.js";
import type { Spec } from "../spec/spec.js";
import { type ContentStore, cacheStore } from "../util/cas.js";
import { cacheRoot as defaultCacheRoot } from "../util/dirs.js";
import { type ComposeContext, composeArch, type PackageLayer } from "./compose.js";
import type { BuiltLayer } from "./image-config.js";
import { type BuildEvent, LayerMaker, type MadeLayer } from "./make-layers.js";
import { type ArchPlan, type BuildPlan, type LayerOptions, planBuild } from "./plan.js";
import { ReuseIndex } from "./reuse.js";

export type { BuildEvent } from "./make-layers.js";

export interface BuildOptions {
  cacheRoot?: string;
  /** Worker threads for layers (default: cores, at most 4). */
  jobs?: number;
  onEvent?: (e: BuildEvent) => void;
  /** Called once the work is known, for progress displays: layers to assemble, .debs to fetch. */
  onPlan?: (work: { layers: number; debs: number }) => void;
  /**
   * Images whose layers may be taken by descriptor (build --push's target, --cache-from, the image
   * an update starts from): see src/pipeline/reuse.ts. Images strata cannot rebuild from its record are noted
   * and skipped.
   */
  reuse?: Artifact[];
  /**
   * The spec's files as entries, instead of reading the spec's `files:` (an update without the spec:
   * `recordedFiles` of the old image).
   */
  specFiles?: LayerEntry[];
}

export interface BuiltImage {
  arch: string;
  image: Image;
  layers: BuiltLayer[];
}

export interface BuildResult {
  artifact: Artifact;
  images: BuiltImage[];
  /** Packages whose maintainer scripts were not run (strata never runs them). */
  skippedScripts: string[];
  /** What those scripts would have done that strata did not do, one entry per command, with why. */
  skippedEffects: SkippedEffect[];
  /** Per package, how many paths and accounts its scripts made natively (the most of any architecture). */
  scriptsMade: Record<string, number>;
  /** Paths shipped by more than one package, with who won. */
  overlaps: string[];
  epoch: number;
  /** What the build did: .debs downloaded, package layers made, found in the cache, reused from images. */
  work: BuildWork;
}

export interface BuildWork {
  debsDownloaded: number;
  layersMade: number;
  layersCached: number;
  layersReused: number;
}

/** `onEvent`, counting the work it reports. */
function counting(onEvent: BuildOptions["onEvent"], work: BuildWork): (e: BuildEvent) => void {
  return (e) => {
    if (e.kind === "fetched" && !e.cached) work.debsDownloaded++;
    if (e.kind === "layer" && e.what !== "base" && e.what !== "files") {
      if (e.reusedFrom !== undefined) work.layersReused++;
      else if (e.cached) work.layersCached++;
      else work.layersMade++;
    }
    onEvent?.(e);
  };
}

/** The content store as a blob source: where every layer a build makes is. */
function storeBlobs(store: ContentStore): BlobSource {
  return {
    open: async (digest) => store.open(digestHex(digest)),
    localPath: (digest) => store.path(digestHex(digest)),
  };
}

/**
 * Builds the images a locked spec describes, one per architecture (an index when there are several):
 * plan (planBuild), make the package layers (LayerMaker: cache first, then only the missing .debs),
 * compose each image (composeArch: base and files layers, config, manifest). Same spec and lock give
 * the same digests, cold or warm; a warm build reads no .deb.
 */
export async function buildImages(spec: Spec, lock: Lock, options: BuildOptions = {}): Promise<BuildResult> {
  const work: BuildWork = { debsDownloaded: 0, layersMade: 0, layersCached: 0, layersReused: 0 };
  const opts = { ...options, onEvent: counting(options.onEvent, work) };
  const root = defaultCacheRoot(opts.cacheRoot);
  const storeRoot = join(root, "blobs");
  const store = cacheStore(storeRoot);
  await Promise.all([store.sweepStale(), debStore(opts.cacheRoot).sweepStale()]);
  const plan = planBuild(spec, lock);
  const layerCache = new LayerCache(root, storeRoot);
  const note = (message: string) => opts.onEvent?.({ kind: "note", message });
  const reuse = opts.reuse?.length ? await ReuseIndex.of(opts.reuse, plan.options, note) : undefined;
  const maker = new LayerMaker({
    ...opts,
    cacheRoot: root,
    storeRoot,
    layerCache,
    options: plan.options,
    reuse,
  });
  const ctx: ComposeContext = {
    lock,
    reuse,
    spec,
    options: plan.options,
    layerCache,
    storeRoot,
    local: storeBlobs(store),
    onEvent: opts.onEvent,
    specFiles: opts.specFiles,
  };
  try {
    const missing = await maker.lookUp(plan.archs);
    opts.onPlan?.({
      layers: plan.archs.reduce((n, p) => n + p.layers.length + 2, 0),
      debs: new Set(missing.map((p) => p.sha256)).size,
    });
    maker.fetch(missing);
    // Every architecture's layers are started at once, so both cores stay busy across archs; the
    // first failure of any ends the build at once.
    const allMade = Promise.all(
      plan.archs.map(({ arch, layers }) => Promise.all(layers.map((l) => maker.make(arch, l)))),
    );
    const composed = await composeAll(ctx, maker, plan, allMade);
    return {
      ...composed,
      artifact: composeArtifact(
        composed.images.map(({ arch, image }) => ({
          image,
          platform: { ...ociPlatform(arch), os: "linux" },
        })),
      ),
      epoch: plan.options.epoch,
      work,
    };
  } finally {
    await maker.close();
  }
}

/** Composes each architecture's image as its package layers are made, in plan order. */
async function composeAll(
  ctx: ComposeContext,
  maker: LayerMaker,
  plan: BuildPlan,
  allMade: Promise<MadeLayer[][]>,
): Promise<Omit<BuildResult, "artifact" | "epoch" | "work">> {
  const images: BuiltImage[] = [];
  const overlaps: string[] = [];
  const skippedEffects: SkippedEffect[] = [];
  const scriptsMade: Record<string, number> = {};
  const scripted = new Set<string>();
  for (const [i, archPlan] of plan.archs.entries()) {
    const made = (await allMade)[i];
    overlaps.push(...made.flatMap((m) => m.overlaps));
    for (const m of made.flatMap((l) => l.record.members)) if (m.scripts.length > 0) scripted.add(m.package);
    const layers = await packageLayers(maker, archPlan, made, plan.options, ctx.local);
    const composed = await composeArch(ctx, archPlan.arch, layers);
    overlaps.push(...composed.overlaps);
    skippedEffects.push(...composed.skippedEffects);
    for (const [pkg, n] of composed.scriptsMade) scriptsMade[pkg] = Math.max(scriptsMade[pkg] ?? 0, n);
    images.push({ arch: archPlan.arch, image: composed.image, layers: composed.layers });
  }
  return {
    images,
    overlaps,
    skippedEffects: uniqueEffects(skippedEffects),
    scriptsMade,
    skippedScripts: [...scripted].sort(),
  };
}

async function packageLayers(
  maker: LayerMaker,
  plan: ArchPlan,
  made: MadeLayer[],
  options: LayerOptions,
  local: BlobSource,
): Promise<PackageLayer[]> {
  return Promise.all(
    made.map(async ({ record }, i) => {
      const { layer } = plan.layers[i];
      const facts = await maker.factsAnnotation(plan.layers[i], record);
      return {
        blob: record,
        kind: layer.kind,
        packages: layer.packages.map((p) => `${p.name}=${p.version}`),
        bytes: made[i].bytes ?? local,
        members: record.members,
        recorded: packageLayerRecord(layer.kind, layer.packages, options, facts),
      };
    }),
  );
}

/** Each skipped effect once, though every architecture's image reports it. */
function uniqueEffects(effects: SkippedEffect[]): SkippedEffect[] {
  return [...new Map(effects.map((e) => [JSON.stringify(e), e])).values()];
}
