import { LAYER_FORMAT_VERSION } from "../layers/layer.js";
import { canonicalJson } from "../layers/layer-facts.js";
import type { LockedPackage } from "../lock/lock.js";
import { compressionIdentity } from "../oci/compress.js";
import { Annotation } from "../oci/types.js";
import type { LayerOptions } from "./plan.js";

/**
 * What a layer descriptor says of its layer (README "Image annotations"): its kind, the layer
 * format version and options that decide its bytes, and for package layers the packages (as the
 * lock records them) and their facts; for base and files layers the digest of their entries.
 */

/** The options annotation: what, besides its inputs, decides a layer's bytes. */
export function layerOptionsText(options: LayerOptions): string {
  return canonicalJson({
    compression: compressionIdentity(options.compression),
    docs: options.keepDocs,
    epoch: options.epoch,
  });
}

function common(kind: string, options: LayerOptions): Record<string, string> {
  return {
    [Annotation.layerKind]: kind,
    [Annotation.layerFormat]: String(LAYER_FORMAT_VERSION),
    [Annotation.layerOptions]: layerOptionsText(options),
  };
}

/** The lock entry of a package as the layer records it (the image architecture is the image's). */
export function packageRecord({ arch: _arch, ...p }: LockedPackage): Omit<LockedPackage, "arch"> {
  return p;
}

export function packageLayerAnnotations(
  kind: "package" | "group",
  locked: LockedPackage[],
  options: LayerOptions,
  facts: string,
): Record<string, string> {
  return {
    ...common(kind, options),
    [Annotation.packages]: locked.map((p) => `${p.name}=${p.version}`).join(" "),
    [Annotation.packagesJson]: canonicalJson(locked.map(packageRecord)),
    [Annotation.layerFacts]: facts,
  };
}

/** Base and files layers: made from in-memory entries whose digest is `inputs`. */
export function entriesLayerAnnotations(
  kind: "base" | "files",
  options: LayerOptions,
  inputs: string,
): Record<string, string> {
  return { ...common(kind, options), [Annotation.layerInputs]: inputs };
}
