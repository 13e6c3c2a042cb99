import type { Lock } from "../lock/lock.js";
import { type LockUpdate, type PackageChange, type UpdateTargets, updateLock } from "../lock/update.js";
import { type Artifact, artifactImages, type Image } from "../oci/image.js";
import { Annotation, type Descriptor } from "../oci/types.js";
import type { Spec } from "../spec/spec.js";
import { StrataError } from "../util/errors.js";
import { type BuildOptions, type BuildResult, buildImages } from "./builder.js";
import { ociPlatform } from "./image-config.js";

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

export interface ImageUpdate extends LockUpdate {
  /** The updated images; undefined when nothing changed (nothing to write). */
  build?: BuildResult;
  newLayers: NewLayer[];
  /** Layers of the old image the new one no longer has (dropped packages, replaced layers). */
  goneLayers: { arch: string; position: number; digest: string; size: number; packages: string[] }[];
}

const LAYER_KINDS = new Set(["base", "package", "group", "files"]);

function unaccounted(where: string, why: string): StrataError {
  return new StrataError("IMAGE_UNACCOUNTED", `${where}: cannot update: ${why}`, {
    hint: "strata updates images it built, with the spec and lock they were built from; rebuild it with `strata build`",
  });
}

/** The image of `artifact` for a Debian architecture (`arm64` is linux/arm64/v8). */
function imageFor(artifact: Artifact, arch: string): Image | undefined {
  const want = ociPlatform(arch);
  return artifactImages(artifact).find(
    (i) =>
      i.config.architecture === want.architecture &&
      (want.variant === undefined || i.config.variant === want.variant),
  );
}

/** "name=version" of the packages a strata layer descriptor says it holds. */
function layerPackages(layer: Descriptor): string[] {
  return (layer.annotations?.[Annotation.packages] ?? "").split(" ").filter((p) => p !== "");
}

/**
 * Checks that `artifact` is what `lock` builds: one image per architecture of the lock, every layer
 * one strata made (its kind annotated; base first, files last), and the packages its layers name
 * exactly the lock's, version for version. Anything else is refused with the first reason found.
 */
export function accountForImage(artifact: Artifact, lock: Lock, where: string): void {
  const images = artifactImages(artifact);
  if (images.length !== lock.inputs.archs.length)
    throw unaccounted(
      where,
      `it holds ${images.length} images, the lock ${lock.inputs.archs.length} architectures`,
    );
  for (const arch of lock.inputs.archs) {
    const image = imageFor(artifact, arch);
    if (!image) throw unaccounted(where, `it has no image for ${arch}, which the lock has`);
    const layers = image.manifest.layers;
    const kinds = layers.map((l) => l.annotations?.[Annotation.layerKind]);
    const odd = kinds.findIndex((k) => k === undefined || !LAYER_KINDS.has(k));
    if (odd >= 0)
      throw unaccounted(
        where,
        `${arch} layer ${odd + 1} was not made by strata (no ${Annotation.layerKind} annotation)`,
      );
    if (kinds[0] !== "base" || kinds.at(-1) !== "files" || layers.length < 3)
      throw unaccounted(where, `${arch}: its layers are not a strata image's (base first, files last)`);
    const held = layers.flatMap(layerPackages).sort();
    const locked = lock.packages
      .filter((p) => p.arch === arch)
      .map((p) => `${p.name}=${p.version}`)
      .sort();
    const extra = held.find((p) => !locked.includes(p));
    const missing = locked.find((p) => !held.includes(p));
    if (extra || missing)
      throw unaccounted(
        where,
        `${arch}: ${extra ? `it holds ${extra}, which the lock does not` : `the lock has ${missing}, which it does not hold`}: it was not built from this lock`,
      );
  }
}

/**
 * Updates an image strata built: the lock is re-resolved for the targets only, then the image the
 * updated lock describes is built (a build reuses every layer whose inputs did not change, so the
 * result is bit for bit what `strata build` makes from the updated lock). Every layer that holds
 * no changed package must come out unchanged, digest and position; if one does not, the image was
 * built from other inputs than these (epoch, compression, docs, a spec edited since), and the
 * update is refused rather than silently rebuilding it all.
 */
export async function updateImage(
  old: Artifact,
  where: string,
  spec: Spec,
  oldLock: Lock,
  targets: UpdateTargets,
  opts: BuildOptions = {},
): Promise<ImageUpdate> {
  accountForImage(old, oldLock, where);
  const update = await updateLock(oldLock, spec, targets, { cacheRoot: opts.cacheRoot });
  if (update.changes.length === 0) return { ...update, newLayers: [], goneLayers: [] };
  const build = await buildImages(spec, update.lock, opts);
  const newLayers: NewLayer[] = [];
  const goneLayers: ImageUpdate["goneLayers"] = [];
  for (const { arch, image } of build.images) {
    const before = imageFor(old, arch)!.manifest.layers;
    const after = image.manifest.layers;
    checkSurgical(
      before,
      after,
      update.changes.filter((c) => c.arch === arch),
      where,
      arch,
    );
    const kept = new Set(after.map((l) => l.digest));
    const had = new Set(before.map((l) => l.digest));
    before.forEach((l, i) => {
      if (!kept.has(l.digest))
        goneLayers.push({
          arch,
          position: i + 1,
          digest: l.digest,
          size: l.size,
          packages: layerPackages(l),
        });
    });
    after.forEach((l, i) => {
      if (had.has(l.digest)) return;
      const replaced = before[i] && !kept.has(before[i].digest) ? before[i] : undefined;
      newLayers.push({
        arch,
        position: i + 1,
        digest: l.digest,
        size: l.size,
        kind: l.annotations?.[Annotation.layerKind] ?? "",
        packages: layerPackages(l),
        ...(replaced ? { replaced: { digest: replaced.digest, size: replaced.size } } : {}),
      });
    });
  }
  return { ...update, build, newLayers, goneLayers };
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
): void {
  const touched = new Set(
    changes.flatMap((c) => [c.from, c.to]).flatMap((p) => (p ? [`${p.name}=${p.version}`] : [])),
  );
  const ownLayers = (layers: Descriptor[]) =>
    new Map(
      layers
        .filter((l) => ["base", "package"].includes(l.annotations?.[Annotation.layerKind] ?? ""))
        .map((l) => [layerPackages(l)[0] ?? "base", l.digest]),
    );
  const now = ownLayers(after);
  for (const [what, digest] of ownLayers(before)) {
    if (touched.has(what) || !now.has(what) || now.get(what) === digest) continue;
    throw unaccounted(
      where,
      `${arch}: the layer of ${what} would change although it was not updated: the image was not built from this spec as it is now (epoch, compression, docs or accounts differ)`,
    );
  }
}
