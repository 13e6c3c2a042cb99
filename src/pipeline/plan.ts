import type { LayerCacheKey } from "../layers/layer-cache.js";
import { type LayerPlan, planLayers } from "../layers/planner.js";
import type { Lock } from "../lock/lock.js";
import { resolveCompression } from "../oci/compress.js";
import type { LayerOptions } from "../record/layer-record.js";
import { buildEpoch, type Spec } from "../spec/spec.js";
import { sha256Hex } from "../util/hash.js";

export type { LayerOptions };

/** A planned package or group layer and its cache key. */
export interface PlannedLayer {
  layer: LayerPlan;
  key: LayerCacheKey;
}

export interface ArchPlan {
  arch: string;
  layers: PlannedLayer[];
}

export interface BuildPlan {
  options: LayerOptions;
  archs: ArchPlan[];
}

/** The first step of a build: which layers each architecture's image has, from the spec and lock alone. */
export function planBuild(spec: Spec, lock: Lock): BuildPlan {
  const options: LayerOptions = {
    epoch: buildEpoch(spec),
    keepDocs: spec.docs,
    compression: resolveCompression(spec.layers.compression),
  };
  const archs = spec.archs.map((arch) => ({
    arch,
    layers: planLayers(
      lock.packages.filter((p) => p.arch === arch),
      spec.layers.max,
    ).map((layer) => ({ layer, key: layerKey(layer, options) })),
  }));
  return { options, archs };
}

/** A layer's cache key: the .deb's sha256, or for a group the sha256 of its members' sorted sha256s. */
export function layerKey(plan: LayerPlan, options: LayerOptions): LayerCacheKey {
  const debSha256 =
    plan.kind === "package"
      ? plan.packages[0].sha256
      : sha256Hex(
          plan.packages
            .map((p) => p.sha256)
            .sort()
            .join("\n"),
        );
  return { debSha256, ...options };
}

export function describePlan(layer: LayerPlan): string {
  return layer.kind === "package"
    ? `${layer.packages[0].name} ${layer.packages[0].version}`
    : `group of ${layer.packages.length} packages`;
}
