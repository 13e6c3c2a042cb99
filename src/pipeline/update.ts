import type { Lock } from "../lock/lock.js";
import { type LockUpdate, type PackageChange, type UpdateTargets, updateLock } from "../lock/update.js";
import { type Artifact, artifactImages, type Image } from "../oci/image.js";
import { platformText } from "../oci/platform.js";
import type { Descriptor } from "../oci/types.js";
import { StrataAnnotation } from "../record/keys.js";
import {
  assertRebuildable,
  lockOf,
  type RebuildableImage,
  type RebuildableLayer,
} from "../record/rebuildable.js";
import type { Spec } from "../spec/spec.js";
import { StrataError } from "../util/errors.js";
import { type BuildOptions, type BuildResult, buildImages } from "./builder.js";
import { specOfImage } from "./image-spec.js";

/** A layer of the updated image that the old one did not have. */
export interface NewLayer {
  arch: string;
  /** 1-based, as `docker history` and people count. */
  position: number;
  digest: string;
  size: number;
  kind: string;
  /** "name=version" of the packages in it. */
  packages: string[];
  /** The layer it took the place of (same position, gone from the image), if any. */
  replaced?: { digest: string; size: number };
}

export interface UpdateOptions extends BuildOptions {
  /** `--mirror`: the repositories the image records, moved (a given spec is moved when loaded). */
  mirror?: string;
  /**
   * `--verify`: take nothing from the old image unread; make every layer (from the cache or the
   * .debs) and require each old layer made of the same inputs to have the same digest.
   */
  verify?: boolean;
}

export interface GoneLayer {
  arch: string;
  position: number;
  digest: string;
  size: number;
  packages: string[];
}

export interface ImageUpdate extends LockUpdate {
  /** The spec the update was built from: the one given, or the image's own (specOfImage). */
  spec: Spec;
  /** The updated images; undefined when nothing changed (nothing to write). */
  build?: BuildResult;
  newLayers: NewLayer[];
  /** Layers of the old image the new one no longer has (dropped packages, replaced layers). */
  goneLayers: GoneLayer[];
}

/** The rebuildable images of an artifact (one per architecture), each refused with the reason if it cannot be. */
async function rebuildableImages(
  old: Artifact,
  where: string,
): Promise<{ image: Image; rebuildable: RebuildableImage }[]> {
  const images = artifactImages(old);
  const out: { image: Image; rebuildable: RebuildableImage }[] = [];
  for (const image of images) {
    const at = images.length > 1 ? `${where} (${platformText(image)})` : where;
    out.push({ image, rebuildable: await assertRebuildable(image, at) });
  }
  return out;
}

/** "name=version" of the packages a strata layer descriptor says it holds. */
function layerPackages(layer: Descriptor): string[] {
  return (layer.annotations?.[StrataAnnotation.packages] ?? "").split(" ").filter((p) => p !== "");
}

/**
 * Updates an image strata built: its lock (from its record) is re-resolved for the targets
 * only, then the image the updated lock describes is built, reusing the old image's layers by
 * descriptor wherever their inputs did not change, so only changed packages' .debs are fetched and
 * the result is bit for bit what `strata build` makes from the updated lock, if the kept layers
 * are what the record says (`verify` proves it by making them all). The base layer and each
 * unchanged package's own layer must keep their digests; if one would not, the image was built
 * from other inputs than these (epoch, compression, docs, a spec edited since), and the update is
 * refused rather than silently rebuilding it all.
 */
export async function updateImage(
  old: Artifact,
  where: string,
  givenSpec: Spec | undefined,
  targets: UpdateTargets,
  opts: UpdateOptions = {},
): Promise<ImageUpdate> {
  const olds = await rebuildableImages(old, where);
  const rebuildable = olds.map((o) => o.rebuildable);
  const oldLock = lockOf(rebuildable);
  const images = olds.map((o) => o.image);
  const spec = givenSpec ?? specOfImage(rebuildable, images, where, opts.mirror);
  checkArchs(spec, oldLock, where);
  const update = await updateLock(oldLock, spec, targets, { cacheRoot: opts.cacheRoot });
  if (update.changes.length === 0) return { ...update, spec, newLayers: [], goneLayers: [] };
  // Every layer whose inputs did not change is taken from the old image by descriptor, unread,
  // unless the update is to prove them.
  const { mirror: _, verify, ...buildOptions } = opts;
  const build = await buildImages(spec, update.lock, { ...buildOptions, reuse: verify ? [] : [old] });
  const newLayers: NewLayer[] = [];
  const goneLayers: GoneLayer[] = [];
  for (const { arch, image } of build.images) {
    const before = olds.find((o) => o.rebuildable.record.arch === arch)!.image.manifest.layers;
    const after = image.manifest.layers;
    const changes = update.changes.filter((c) => c.arch === arch);
    // A layer that is not what its record names is the sharper finding: said first.
    if (verify)
      await checkProven(olds.find((o) => o.rebuildable.record.arch === arch)!.rebuildable, image, where);
    checkSurgical(before, after, changes, where, arch, spec.path);
    const layers = layerChanges(arch, before, after);
    newLayers.push(...layers.newLayers);
    goneLayers.push(...layers.goneLayers);
  }
  return { ...update, spec, build, newLayers, goneLayers };
}

/** The layers only the new image has (with the one each took the place of), and those only the old one had. */
function layerChanges(arch: string, before: Descriptor[], after: Descriptor[]) {
  const kept = new Set(after.map((l) => l.digest));
  const had = new Set(before.map((l) => l.digest));
  const goneLayers: GoneLayer[] = before.flatMap((l, i) =>
    kept.has(l.digest)
      ? []
      : [{ arch, position: i + 1, digest: l.digest, size: l.size, packages: layerPackages(l) }],
  );
  const newLayers: NewLayer[] = after.flatMap((l, i) => {
    if (had.has(l.digest)) return [];
    const replaced = before[i] && !kept.has(before[i].digest) ? before[i] : undefined;
    return [
      {
        arch,
        position: i + 1,
        digest: l.digest,
        size: l.size,
        kind: l.annotations?.[StrataAnnotation.layerKind] ?? "",
        packages: layerPackages(l),
        ...(replaced ? { replaced: { digest: replaced.digest, size: replaced.size } } : {}),
      },
    ];
  });
  return { newLayers, goneLayers };
}

/** The spec builds the architectures the image has, no more, no fewer. */
function checkArchs(spec: Spec, oldLock: Lock, where: string): void {
  const [want, have] = [[...spec.archs].sort().join(", "), [...oldLock.inputs.archs].sort().join(", ")];
  if (want !== have)
    throw new StrataError("USAGE", `${spec.path} builds ${want}, and ${where} holds ${have}`, {
      hint: "update with the spec the image was built from (its archs), or build the new set with `strata build`",
    });
}

/**
 * A package's own layer, or the base layer, that is in both images and holds no changed package
 * has the same digest in both: else the image was made from other inputs than these. (A new
 * dependency may regroup packages over the layer budget, as a fresh build would: that is no sign.)
 */
function checkSurgical(
  before: Descriptor[],
  after: Descriptor[],
  changes: PackageChange[],
  where: string,
  arch: string,
  spec: string,
): void {
  const touched = new Set(
    changes.flatMap((c) => [c.from, c.to]).flatMap((p) => (p ? [`${p.name}=${p.version}`] : [])),
  );
  const ownLayers = (layers: Descriptor[]) =>
    new Map(
      layers
        .filter((l) => ["base", "package"].includes(l.annotations?.[StrataAnnotation.layerKind] ?? ""))
        .map((l) => [layerPackages(l)[0] ?? "base", l.digest]),
    );
  const now = ownLayers(after);
  for (const [what, digest] of ownLayers(before)) {
    if (touched.has(what) || !now.has(what) || now.get(what) === digest) continue;
    throw new StrataError(
      "IMAGE_NOT_REBUILDABLE",
      `${where}: cannot update: ${arch}: the layer of ${what} would change although it was not updated: the image was not built from ${spec} as it is now (epoch, compression, docs or accounts differ)`,
      {
        hint: "update with the spec the image was built from (or none: the image's own record), or rebuild it with `strata build`",
      },
    );
  }
}

/** What a layer is made of: its kind and the .debs (package, group) or entries (base, files) it claims. */
function madeOf(layer: RebuildableLayer): string {
  const debs = layer.packages.map((p) => p.sha256).sort();
  return `${layer.kind} ${layer.inputs ?? debs.join(" ")}`;
}

/**
 * `--verify`: every layer of the old image that claims the inputs of a layer the update made has
 * that layer's digest; one that does not holds bytes its record does not account for.
 */
async function checkProven(old: RebuildableImage, made: Image, where: string): Promise<void> {
  const madeLayers = new Map(
    (await assertRebuildable(made, where)).layers.map((l) => [madeOf(l), l.descriptor.digest]),
  );
  for (const layer of old.layers) {
    const digest = madeLayers.get(madeOf(layer));
    if (digest === undefined || digest === layer.descriptor.digest) continue;
    const what = layer.packages.length
      ? layer.packages.map((p) => `${p.name}=${p.version}`).join(" ")
      : `the ${layer.kind} layer`;
    throw new StrataError(
      "HASH_MISMATCH",
      `${where}: layer ${layer.index + 1} (${what}) is ${layer.descriptor.digest}, but what its record names makes ${digest}: the image holds bytes its record does not account for`,
      { hint: "do not run or update this image; rebuild it from its spec with `strata build`" },
    );
  }
}
