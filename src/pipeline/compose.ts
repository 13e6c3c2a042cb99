import { createHash } from "node:crypto";
import type { Accounts } from "../debian/accounts.js";
import { baseLayerEntries } from "../debian/base-root.js";
import type { SkippedEffect } from "../debian/maintscripts.js";
import { checkEntrypoint, checkImageUser } from "../effects/entrypoint.js";
import { nativeEffects } from "../effects/native-effects.js";
import type { PackageFacts } from "../effects/package-facts.js";
import { shipEntries } from "../effects/script-facts.js";
import { buildBaseLayer, buildEntriesLayer, withParentsFrom } from "../layers/base-layer.js";
import type { LayerCache, LayerCacheKey } from "../layers/layer-cache.js";
import { entriesPathsOf } from "../layers/layer-facts.js";
import { OverlapChecker, pathsOf } from "../layers/overlaps.js";
import type { LayerBlob } from "../layers/write-layer.js";
import type { Lock } from "../lock/lock.js";
import type { BlobSource, Image } from "../oci/image.js";
import type { LayerEntry } from "../oci/layer-entry.js";
import { composeImage, type Layer } from "../oci/mutate.js";
import { Annotation } from "../oci/types.js";
import { specAccounts } from "../spec/accounts.js";
import type { Spec } from "../spec/spec.js";
import { specFileEntries } from "../spec/spec-files.js";
import { compareText } from "../util/order.js";
import { buildRecord, buildRecordText } from "./build-record.js";
import { type BuiltLayer, epochTime, imageConfig, layerHistory } from "./image-config.js";
import { entriesLayerAnnotations } from "./layer-annotations.js";
import { layerFileReader } from "./layer-files.js";
import type { BuildEvent } from "./make-layers.js";
import type { LayerOptions } from "./plan.js";
import type { ReuseIndex } from "./reuse.js";

/** What composing needs besides the layers: the spec, the cache and where blobs are. */
export interface ComposeContext {
  spec: Spec;
  options: LayerOptions;
  layerCache: LayerCache;
  storeRoot: string;
  /** The content store as a blob source: where made layers' bytes are. */
  local: BlobSource;
  onEvent?: (e: BuildEvent) => void;
  lock: Lock;
  /** Images whose base and files layers are taken when their entries digest matches. */
  reuse?: ReuseIndex;
  /** The spec's files, when given instead of the spec's `files:` (BuildOptions.specFiles). */
  specFiles?: LayerEntry[];
}

/** A package layer ready to compose: its blob, its members' facts and what the image says of it. */
export interface PackageLayer extends BuiltLayer {
  members: PackageFacts[];
}

export interface ComposedImage {
  image: Image;
  layers: BuiltLayer[];
  overlaps: string[];
  skippedEffects: SkippedEffect[];
  /** Per package, what its maintainer scripts made natively (paths and accounts). */
  scriptsMade: Map<string, number>;
}

/**
 * The last step of a build, for one architecture: checks the package layers' paths against each
 * other, makes the base layer and the files layer (maintainer-script effects made natively from
 * the layers' facts, and the spec's files), and composes config and manifest.
 */
export async function composeArch(
  ctx: ComposeContext,
  arch: string,
  packageLayers: PackageLayer[],
): Promise<ComposedImage> {
  const accounts = specAccounts(ctx.spec);
  const baseEntries = baseLayerEntries(arch, accounts);
  const checker = new OverlapChecker(arch, pathsOf(baseEntries));
  for (const l of packageLayers) checker.add(l.members, l.blob);

  const { epoch, compression } = ctx.options;
  // The layers' SBOM details are kept beside the layer records as they are made.
  const { cacheRoot } = ctx.layerCache;
  const base = await entriesLayer(ctx, "base", baseEntries, () =>
    buildBaseLayer({ architecture: arch, accounts, store: ctx.storeRoot, epoch, compression, cacheRoot }),
  );
  ctx.onEvent?.({ kind: "layer", arch, what: "base", cached: false });
  const files = await filesLayer(ctx, arch, { accounts, baseEntries, base: base.blob, packageLayers });
  ctx.onEvent?.({ kind: "layer", arch, what: "files", cached: false });
  const layers: BuiltLayer[] = [base, ...packageLayers, files.layer];
  const record = buildRecord(ctx.spec, ctx.lock, arch, epoch, files.specFiles);
  const image = composeImage({
    config: imageConfig(ctx.spec, arch, epoch),
    layers: layers.map((l) => ({ layer: asLayer(l), history: [layerHistory(l, epoch)] })),
    annotations: { [Annotation.created]: epochTime(epoch), [Annotation.build]: buildRecordText(record) },
  });
  return {
    image,
    layers,
    overlaps: checker.notes,
    skippedEffects: files.skipped,
    scriptsMade: files.made,
  };
}

/** The files layer: what maintainer scripts would have made, made natively, and the spec's files. */
async function filesLayer(
  ctx: ComposeContext,
  arch: string,
  parts: { accounts: Accounts; baseEntries: LayerEntry[]; base: LayerBlob; packageLayers: PackageLayer[] },
): Promise<{
  layer: BuiltLayer;
  skipped: SkippedEffect[];
  made: Map<string, number>;
  specFiles: LayerEntry[];
}> {
  const { spec, options } = ctx;
  const effects = await nativeEffects({
    members: parts.packageLayers.flatMap((l) => l.members),
    storeRoot: ctx.storeRoot,
    architecture: arch,
    baseEntries: parts.baseEntries,
    accounts: parts.accounts,
    epoch: options.epoch,
    files: [...parts.base.files, ...parts.packageLayers.flatMap((l) => l.blob.files)],
    readBodies: layerFileReader(parts.packageLayers, `${arch}: the layers`),
  });
  for (const note of effects.notes) ctx.onEvent?.({ kind: "note", message: `${arch}: ${note}` });
  const specFiles = ctx.specFiles ?? (await specFileEntries(spec));
  // The spec's own files win over what scripts made at the same path.
  const specPaths = new Set(specFiles.map((f) => f.path.replace(/^\/+/, "")));
  shipEntries(effects.tree, specFiles);
  checkImageUser(spec, effects.accounts, arch);
  checkEntrypoint(effects.tree, spec, effects.accounts, arch);
  if ((spec.entrypoint ?? spec.cmd) && effects.tree.lookup("/bin/sh") === undefined) {
    const message = `${arch}: the image has no /bin/sh, which Debian's programs assume (initdb, and anything that calls system() or popen(), fails without it); add \`essential: true\` to the spec for Debian's Essential set`;
    ctx.onEvent?.({ kind: "note", message });
  }
  // Parents keep the mode and owner the image's layers give them (/var/lock 1777, a home's owner).
  const entries = withParentsFrom(
    [...effects.entries.filter((e) => !specPaths.has(e.path)), ...specFiles],
    (dir) => {
      const node = effects.tree.at(dir);
      return node?.type === "dir"
        ? { path: dir, type: "dir", mode: node.mode, uid: node.uid, gid: node.gid }
        : undefined;
    },
  );
  const layer = await entriesLayer(ctx, "files", entries, () =>
    buildEntriesLayer({
      entries,
      store: ctx.storeRoot,
      epoch: options.epoch,
      compression: options.compression,
      cacheRoot: ctx.layerCache.cacheRoot,
    }),
  );
  return { layer, skipped: effects.skipped, made: effects.made, specFiles };
}

/** A built layer as the image model's value: its descriptor (with annotations) and where its bytes are. */
export function asLayer(l: BuiltLayer): Layer {
  const { digest, size, mediaType, diffId } = l.blob;
  return {
    descriptor: { mediaType, digest, size, annotations: l.annotations },
    diffId,
    open: () => l.bytes.open(digest),
    localPath: () => l.bytes.localPath?.(digest),
  };
}

/** The digest of in-memory entries: what an entries layer is cached under and annotated with. */
export function entriesDigest(entries: LayerEntry[]): string {
  const digest = createHash("sha256");
  for (const e of [...entries].sort((a, b) => compareText(a.path, b.path))) {
    digest.update(JSON.stringify({ ...e, body: undefined }));
    digest.update(e.body ?? Buffer.alloc(0));
  }
  return `sha256:${digest.digest("hex")}`;
}

/**
 * An in-memory layer (base, files) through the same cache as package layers, keyed by the sha256
 * of its entries, so a warm build compresses nothing at all.
 */
async function entriesLayer(
  ctx: ComposeContext,
  kind: "base" | "files",
  entries: LayerEntry[],
  build: () => Promise<LayerBlob>,
): Promise<BuiltLayer> {
  const inputs = entriesDigest(entries);
  const options = { ...ctx.options, keepDocs: false };
  const annotations = entriesLayerAnnotations(kind, options, inputs);
  const key: LayerCacheKey = { ...options, debSha256: `entries:${inputs.slice("sha256:".length)}` };
  const hit = await ctx.layerCache.get(key);
  if (hit) return { blob: hit, kind, packages: [], bytes: ctx.local, annotations };
  // An image made of the same entries has this very layer: keep its descriptor, make nothing.
  const reused = ctx.reuse?.entriesLayer(kind, inputs);
  if (reused) {
    const { digest, size, mediaType } = reused.descriptor;
    const blob = { digest, size, mediaType, diffId: reused.diffId, ...entriesPathsOf(entries) };
    return { blob, kind, packages: [], bytes: reused.bytes, annotations };
  }
  const blob = await build();
  await ctx.layerCache.put(key, { ...blob, members: [] });
  return { blob, kind, packages: [], bytes: ctx.local, annotations };
}
