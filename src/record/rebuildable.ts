import { LAYER_FORMAT_VERSION } from "../layers/layer.js";
import { LOCK_VERSION, type Lock, type LockedPackage } from "../lock/lock.js";
import { lockSchema } from "../lock/lock-schema.js";
import { resolveCompression } from "../oci/compress.js";
import type { Image } from "../oci/image.js";
import type { Descriptor } from "../oci/types.js";
import { StrataError } from "../util/errors.js";
import { compareText } from "../util/order.js";
import type { BuildRecord } from "./build-record.js";
import { StrataAnnotation } from "./keys.js";
import { type LayerKind, type LayerOptions, layerOptionsText, type RecordedOptions } from "./layer-record.js";
import { type ImageRecord, type RecordedLayer, readImageRecord } from "./record.js";

/**
 * Whether strata can rebuild from its record an image from its record alone (README "Image annotations"):
 * built by strata, the record its manifest names present and matching it, every layer of a format
 * and options this strata writes, everything an update needs present. Nothing is read but the
 * manifest, the config and the record.
 */

export interface RebuildableLayer {
  /** Position in the image. */
  index: number;
  kind: LayerKind;
  /** The descriptor as the image has it (annotations included). */
  descriptor: Descriptor;
  diffId: string;
  /** The options that made its bytes. */
  options: RecordedOptions;
  /** Package and group layers: their lock entries, in layer order. */
  packages: LockedPackage[];
  /** Package and group layers: their facts (decode with decodeLayerFacts when needed). */
  facts?: string;
  /** Base and files layers: "sha256:<hex>" of the entries they were made of. */
  inputs?: string;
}

export interface RebuildableImage {
  record: BuildRecord;
  /** The layer options of its package layers (base and files: the same with docs false). */
  options: LayerOptions;
  layers: RebuildableLayer[];
}

export type Rebuildability = ({ ok: true } & RebuildableImage) | { ok: false; reason: string };

const lockedEntry = lockSchema.shape.packages.element;

class NotRebuildable extends Error {}

function refuse(reason: string): never {
  throw new NotRebuildable(reason);
}

/** Whether strata can rebuild from its record `image`, and if not, why (one line, without `where`). */
export async function checkRebuildable(image: Image, where = "the image"): Promise<Rebuildability> {
  try {
    return { ok: true, ...(await assertRebuildable(image, where)) };
  } catch (err) {
    if (!(err instanceof StrataError && err.code === "IMAGE_NOT_REBUILDABLE")) throw err;
    const said = `${where}: `;
    return { ok: false, reason: err.message.startsWith(said) ? err.message.slice(said.length) : err.message };
  }
}

/**
 * What strata rebuilds `image` from, or IMAGE_NOT_REBUILDABLE with the reason: the record's own refusal (its
 * hint says how to get one), or why its layers are not what this strata writes.
 */
export async function assertRebuildable(image: Image, where = "the image"): Promise<RebuildableImage> {
  const record = await readImageRecord(image, where);
  try {
    return rebuildableImage(image, record);
  } catch (err) {
    if (!(err instanceof NotRebuildable)) throw err;
    throw new StrataError("IMAGE_NOT_REBUILDABLE", `${where}: ${err.message}`, {
      hint: "strata can only update an image a current strata built; build it again with `strata build`",
    });
  }
}

function rebuildableImage(image: Image, record: ImageRecord): RebuildableImage {
  const build = record.build;
  const options: LayerOptions = {
    epoch: build.epoch,
    keepDocs: build.docs,
    compression: resolveCompression(build.layers.compression),
  };
  const rebuildable = record.layers.map((l, i) =>
    rebuildableLayer(image.manifest.layers[i], i, l, options, build.arch),
  );
  const kinds = rebuildable.map((l) => l.kind);
  if (
    kinds[0] !== "base" ||
    kinds.at(-1) !== "files" ||
    kinds.slice(1, -1).some((k) => k === "base" || k === "files")
  ) {
    refuse(`its layers are not base, packages, files in that order (${kinds.join(", ")})`);
  }
  return { record: build, options, layers: rebuildable };
}

function rebuildableLayer(
  d: Descriptor,
  index: number,
  recorded: RecordedLayer,
  options: LayerOptions,
  arch: string,
): RebuildableLayer {
  const a = d.annotations ?? {};
  const at = `layer ${index} (${d.digest})`;
  const { kind } = recorded;
  if (a[StrataAnnotation.layerKind] !== kind)
    refuse(
      `${at} has ${StrataAnnotation.layerKind} ${a[StrataAnnotation.layerKind] ?? "(none)"}; its record says ${kind}`,
    );
  const format = a[StrataAnnotation.layerFormat];
  if (format !== String(LAYER_FORMAT_VERSION)) {
    refuse(`${at} has layer format ${format ?? "(none)"}; this strata writes format ${LAYER_FORMAT_VERSION}`);
  }
  const ownOptions = kind === "base" || kind === "files" ? { ...options, keepDocs: false } : options;
  if (layerOptionsText(recorded.options) !== layerOptionsText(ownOptions)) {
    refuse(
      `${at} was made with layer options ${layerOptionsText(recorded.options)}, not ${layerOptionsText(ownOptions)}`,
    );
  }
  const layer: RebuildableLayer = {
    index,
    kind,
    descriptor: d,
    diffId: recorded.diffId,
    options: recorded.options,
    packages: [],
  };
  if (kind === "base" || kind === "files") {
    if (recorded.inputs === undefined) refuse(`${at} has no inputs in its record`);
    return { ...layer, inputs: recorded.inputs };
  }
  if (recorded.facts === undefined) refuse(`${at} has no facts in its record`);
  if (recorded.packages === undefined) refuse(`${at} has no packages in its record`);
  // Parsed again whole, so the entries have the lock's field order.
  const packages = recorded.packages.map((p) => lockedEntry.parse({ ...p, arch }));
  return { ...layer, packages, facts: recorded.facts };
}

/** The lock the rebuildable images (one per architecture) were built from, as `strata lock` wrote it. */
export function lockOf(images: RebuildableImage[]): Lock {
  const byArchName = (a: { arch: string; name: string }, b: { arch: string; name: string }) =>
    compareText(a.arch, b.arch) || compareText(a.name, b.name);
  const first = images[0].record.lock;
  return {
    lockVersion: LOCK_VERSION,
    inputs: first.inputs,
    releases: first.releases,
    packages: images.flatMap((i) => i.layers.flatMap((l) => l.packages)).sort(byArchName),
    excluded: images.flatMap((i) => i.record.lock.excluded).sort(byArchName),
  };
}
