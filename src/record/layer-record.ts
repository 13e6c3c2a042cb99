import { LAYER_FORMAT_VERSION } from "../layers/layer.js";
import type { LockedPackage } from "../lock/lock.js";
import { type Compression, compressionIdentity } from "../oci/compress.js";
import { StrataAnnotation } from "./keys.js";
import { canonicalJson } from "./layer-facts.js";

/**
 * What strata records of one layer (README "Image annotations"): in the image record, its kind, the
 * options that decide its bytes, and for package layers the packages (as the lock records them)
 * and their facts, for base and files layers the digest of their entries; on its descriptor, only
 * what a scanner or a human wants at a glance.
 */

/** What decides every layer's bytes besides its .debs: the same for every layer of a build. */
export interface LayerOptions {
  epoch: number;
  keepDocs: boolean;
  compression: Compression;
}

export type LayerKind = "base" | "package" | "group" | "files";

/** A package's lock entry as a layer records it (the image architecture is the image's). */
export type RecordedPackage = Omit<LockedPackage, "arch">;

export interface LayerRecord {
  kind: LayerKind;
  /** The options that decided its bytes. */
  options: RecordedOptions;
  /** Package and group layers: their lock entries, in layer order. */
  packages?: RecordedPackage[];
  /** Package and group layers: their members' facts (layer-facts.ts). */
  facts?: string;
  /** Base and files layers: "sha256:<hex>" of the entries they were made of. */
  inputs?: string;
}

/** The layer options as a record holds them: the compressor's identity, not its name. */
export interface RecordedOptions {
  compression: string;
  docs: boolean;
  epoch: number;
}

export function recordedOptions(options: LayerOptions): RecordedOptions {
  return {
    compression: compressionIdentity(options.compression),
    docs: options.keepDocs,
    epoch: options.epoch,
  };
}

/** The options as one text (canonical JSON): equal options, equal text. */
export function layerOptionsText(options: LayerOptions | RecordedOptions): string {
  return canonicalJson("keepDocs" in options ? recordedOptions(options) : options);
}

/** The lock entry of a package as the layer records it. */
export function packageRecord({ arch: _arch, ...p }: LockedPackage): RecordedPackage {
  return p;
}

export function packageLayerRecord(
  kind: "package" | "group",
  locked: LockedPackage[],
  options: LayerOptions,
  facts: string,
): LayerRecord {
  return { kind, options: recordedOptions(options), packages: locked.map(packageRecord), facts };
}

/** Base and files layers: made from in-memory entries whose digest is `inputs`. */
export function entriesLayerRecord(
  kind: "base" | "files",
  options: LayerOptions,
  inputs: string,
): LayerRecord {
  return { kind, options: recordedOptions(options), inputs };
}

/**
 * What a layer's descriptor says of it: kind, format and its packages' names and versions. The
 * .debs' sha256s are in the record only: with them, a 100-layer manifest would pass 32 KiB.
 */
export function layerAnnotations(layer: LayerRecord): Record<string, string> {
  const annotations: Record<string, string> = {
    [StrataAnnotation.layerKind]: layer.kind,
    [StrataAnnotation.layerFormat]: String(LAYER_FORMAT_VERSION),
  };
  if (layer.packages === undefined) return annotations;
  return {
    ...annotations,
    [StrataAnnotation.packages]: layer.packages.map((p) => `${p.name}=${p.version}`).join(" "),
  };
}
