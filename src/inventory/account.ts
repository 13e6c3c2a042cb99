import { LAYER_FORMAT_VERSION } from "../layers/layer.js";
import { LOCK_VERSION, type Lock, type LockedPackage } from "../lock/lock.js";
import { lockSchema } from "../lock/lock-schema.js";
import { resolveCompression } from "../oci/compress.js";
import type { Image } from "../oci/image.js";
import { Annotation, type Descriptor } from "../oci/types.js";
import { type BuildRecord, parseBuildRecord } from "../pipeline/build-record.js";
import { layerOptionsText } from "../pipeline/layer-annotations.js";
import type { LayerOptions } from "../pipeline/plan.js";
import { StrataError } from "../util/errors.js";
import { compareText } from "../util/order.js";

/**
 * Whether strata can account for an image from its annotations alone (README "Image annotations"):
 * built by strata, every layer of a format and options this strata writes, every annotation an
 * update needs present and well formed. Nothing is read but the manifest and config.
 */

export type LayerKind = "base" | "package" | "group" | "files";

export interface AccountedLayer {
  /** Position in the image. */
  index: number;
  kind: LayerKind;
  /** The descriptor as the image has it (annotations included). */
  descriptor: Descriptor;
  diffId: string;
  /** Package and group layers: their lock entries, in layer order. */
  packages: LockedPackage[];
  /** Package and group layers: the facts annotation (decode with decodeLayerFacts when needed). */
  facts?: string;
  /** Base and files layers: "sha256:<hex>" of the entries they were made of. */
  inputs?: string;
}

export interface AccountedImage {
  record: BuildRecord;
  /** The layer options of its package layers (base and files: the same with docs false). */
  options: LayerOptions;
  layers: AccountedLayer[];
}

export type Accounting = ({ ok: true } & AccountedImage) | { ok: false; reason: string };

const KINDS = new Set<string>(["base", "package", "group", "files"]);
const lockedEntry = lockSchema.shape.packages.element;
const packagesSchema = lockSchema.shape.packages.element.omit({ arch: true }).array().min(1);

class Unaccounted extends Error {}

function refuse(reason: string): never {
  throw new Unaccounted(reason);
}

/** Whether strata can account for `image`, and if not, why (one line). */
export function accountFor(image: Image, where = "the image"): Accounting {
  try {
    return { ok: true, ...accountedImage(image, where) };
  } catch (err) {
    if (err instanceof Unaccounted) return { ok: false, reason: err.message };
    if (err instanceof StrataError && err.code === "IMAGE_UNACCOUNTED")
      return { ok: false, reason: err.message };
    throw err;
  }
}

/** The accounting of `image`, or IMAGE_UNACCOUNTED with the reason. */
export function assertAccounted(image: Image, where = "the image"): AccountedImage {
  const accounting = accountFor(image, where);
  if (accounting.ok) return accounting;
  throw new StrataError("IMAGE_UNACCOUNTED", `${where}: ${accounting.reason}`, {
    hint: "strata can only update an image a current strata built; build it again with `strata build`",
  });
}

function accountedImage(image: Image, where: string): AccountedImage {
  const text = image.manifest.annotations?.[Annotation.build];
  const layers = image.manifest.layers;
  if (text === undefined) {
    const byStrata = layers.some((l) => l.annotations?.[Annotation.layerKind] !== undefined);
    refuse(byStrata ? `built by an older strata: no ${Annotation.build} annotation` : "not built by strata");
  }
  const record = parseBuildRecord(text, where);
  if (image.config.rootfs.diff_ids.length !== layers.length)
    refuse("its config and manifest list different layers");
  const options: LayerOptions = {
    epoch: record.epoch,
    keepDocs: record.docs,
    compression: resolveCompression(record.layers.compression),
  };
  const accounted = layers.map((d, i) =>
    accountedLayer(d, i, image.config.rootfs.diff_ids[i], options, record),
  );
  const kinds = accounted.map((l) => l.kind);
  if (
    kinds[0] !== "base" ||
    kinds.at(-1) !== "files" ||
    kinds.slice(1, -1).some((k) => k === "base" || k === "files")
  ) {
    refuse(`its layers are not base, packages, files in that order (${kinds.join(", ")})`);
  }
  return { record, options, layers: accounted };
}

function accountedLayer(
  d: Descriptor,
  index: number,
  diffId: string,
  options: LayerOptions,
  record: BuildRecord,
): AccountedLayer {
  const a = d.annotations ?? {};
  const at = `layer ${index} (${d.digest})`;
  const kind = a[Annotation.layerKind];
  if (kind === undefined || !KINDS.has(kind)) refuse(`${at} has no known ${Annotation.layerKind}`);
  const format = a[Annotation.layerFormat];
  if (format !== String(LAYER_FORMAT_VERSION)) {
    refuse(`${at} has layer format ${format ?? "(none)"}; this strata writes format ${LAYER_FORMAT_VERSION}`);
  }
  const ownOptions = kind === "base" || kind === "files" ? { ...options, keepDocs: false } : options;
  if (a[Annotation.layerOptions] !== layerOptionsText(ownOptions)) {
    refuse(
      `${at} was made with layer options ${a[Annotation.layerOptions] ?? "(none)"}, not ${layerOptionsText(ownOptions)}`,
    );
  }
  const layer: AccountedLayer = { index, kind: kind as LayerKind, descriptor: d, diffId, packages: [] };
  if (kind === "base" || kind === "files") {
    const inputs = a[Annotation.layerInputs];
    if (inputs === undefined || !/^sha256:[0-9a-f]{64}$/.test(inputs))
      refuse(`${at} has no ${Annotation.layerInputs}`);
    return { ...layer, inputs };
  }
  const facts = a[Annotation.layerFacts];
  if (facts === undefined) refuse(`${at} has no ${Annotation.layerFacts}`);
  return { ...layer, packages: layerPackages(a[Annotation.packagesJson], at, record.arch), facts };
}

function layerPackages(text: string | undefined, at: string, arch: string): LockedPackage[] {
  if (text === undefined) refuse(`${at} has no ${Annotation.packagesJson}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    refuse(`${at}: ${Annotation.packagesJson} is not JSON`);
  }
  const parsed = packagesSchema.safeParse(json);
  if (!parsed.success) refuse(`${at}: ${Annotation.packagesJson} is not a list of lock entries`);
  // Parsed again whole, so the entries have the lock's field order.
  return parsed.data.map((p) => lockedEntry.parse({ ...p, arch }));
}

/** The lock the accounted images (one per architecture) were built from, as `strata lock` wrote it. */
export function lockOf(images: AccountedImage[]): Lock {
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
