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
import { OverlapChecker, pathsOf } from "../layers/overlaps.js";
import type { LayerBlob } from "../layers/write-layer.js";
import type { Lock } from "../lock/lock.js";
import { type BlobSource, type Image, memoryBlobs } from "../oci/image.js";
import type { LayerEntry } from "../oci/layer-entry.js";
import { composeImage, type Layer } from "../oci/mutate.js";
import { Annotation } from "../oci/types.js";
import { type BuildRecord, buildRecord } from "../record/build-record.js";
import { StrataAnnotation } from "../record/keys.js";
import { entriesPathsOf } from "../record/layer-facts.js";
import { entriesLayerRecord, layerAnnotations } from "../record/layer-record.js";
import { IMAGE_RECORD_VERSION, type ImageRecord, recordBlob } from "../record/record.js";
import { recordReferrer } from "../record/travel.js";
import { specAccounts } from "../spec/accounts.js";
import type { Spec } from "../spec/spec.js";
import { specFileEntries } from "../spec/spec-files.js";
import { compareText } from "../util/order.js";
import { type FilesInputs, FilesMemo } from "./files-memo.js";
import { type BuiltLayer, epochTime, imageConfig, layerHistory } from "./image-config.js";
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
  const record = recordBlob(
    imageRecord(buildRecord(ctx.spec, ctx.lock, arch, epoch, files.specFiles), layers),
  );
  const image = composeImage({
    config: imageConfig(ctx.spec, arch, epoch),
    layers: layers.map((l) => ({ layer: asLayer(l), history: [layerHistory(l, epoch)] })),
    annotations: {
      [Annotation.created]: epochTime(epoch),
      [StrataAnnotation.record]: record.descriptor.digest,
    },
    others: memoryBlobs([record.bytes]),
  });
  return {
    image: { ...image, attached: [recordReferrer(image, record.bytes)] },
    layers,
    overlaps: checker.notes,
    skippedEffects: files.skipped,
    scriptsMade: files.made,
  };
}

interface FilesParts {
  accounts: Accounts;
  baseEntries: LayerEntry[];
  base: LayerBlob;
  packageLayers: PackageLayer[];
}

interface FilesLayer {
  layer: BuiltLayer;
  skipped: SkippedEffect[];
  made: Map<string, number>;
  specFiles: LayerEntry[];
}

/**
 * The files layer: what maintainer scripts would have made, made natively, and the spec's files.
 * What a build of the same inputs found is kept (files-memo.ts): a warm build follows no script.
 */
async function filesLayer(ctx: ComposeContext, arch: string, parts: FilesParts): Promise<FilesLayer> {
  const specFiles = ctx.specFiles ?? (await specFileEntries(ctx.spec));
  const memo = new FilesMemo(ctx.layerCache.cacheRoot);
  const inputs: FilesInputs = {
    arch,
    options: ctx.options,
    spec: ctx.spec,
    specFiles: entriesDigest(specFiles),
    base: parts.base.digest,
    layers: parts.packageLayers.map((l) => ({ digest: l.blob.digest, packages: l.recorded.packages })),
  };
  const kept = await memo.get(inputs);
  const layer = kept && (await cachedEntriesLayer(ctx, "files", kept.inputs));
  if (kept && layer) {
    for (const message of kept.notes) ctx.onEvent?.({ kind: "note", message });
    return { layer, skipped: kept.skipped, made: new Map(kept.made), specFiles };
  }
  const notes: string[] = [];
  const made = await makeFilesLayer(ctx, arch, parts, specFiles, (message) => {
    notes.push(message);
    ctx.onEvent?.({ kind: "note", message });
  });
  const outcome = { inputs: made.inputs, skipped: made.skipped, made: [...made.made], notes };
  await memo.put(inputs, outcome);
  return { layer: made.layer, skipped: made.skipped, made: made.made, specFiles };
}

/** The files layer made: the scripts followed, the spec checked against the image, the layer built. */
async function makeFilesLayer(
  ctx: ComposeContext,
  arch: string,
  parts: FilesParts,
  specFiles: LayerEntry[],
  note: (message: string) => void,
): Promise<Omit<FilesLayer, "specFiles"> & { inputs: string }> {
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
  for (const message of effects.notes) note(`${arch}: ${message}`);
  // The spec's own files win over what scripts made at the same path.
  const specPaths = new Set(specFiles.map((f) => f.path.replace(/^\/+/, "")));
  shipEntries(effects.tree, specFiles);
  checkImageUser(spec, effects.accounts, arch);
  checkEntrypoint(effects.tree, spec, effects.accounts, arch);
  if ((spec.entrypoint ?? spec.cmd) && effects.tree.lookup("/bin/sh") === undefined) {
    note(
      `${arch}: the image has no /bin/sh, which Debian's programs assume (initdb, and anything that calls system() or popen(), fails without it); add \`essential: true\` to the spec for Debian's Essential set`,
    );
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
  // Its entries digest, the files layer's key in the layer cache (entriesLayer recorded it).
  return { layer, skipped: effects.skipped, made: effects.made, inputs: layer.recorded.inputs! };
}

/** The record of an image made of `layers`: the build record and what each layer's record says. */
function imageRecord(build: BuildRecord, layers: BuiltLayer[]): ImageRecord {
  return {
    version: IMAGE_RECORD_VERSION,
    build,
    layers: layers.map((l) => ({ digest: l.blob.digest, diffId: l.blob.diffId, ...l.recorded })),
  };
}

/** A built layer as the image model's value: its descriptor (with annotations) and where its bytes are. */
export function asLayer(l: BuiltLayer): Layer {
  const { digest, size, mediaType, diffId } = l.blob;
  return {
    descriptor: { mediaType, digest, size, annotations: layerAnnotations(l.recorded) },
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
  const hit = await cachedEntriesLayer(ctx, kind, inputs);
  if (hit) return hit;
  const recorded = entriesLayerRecord(kind, { ...ctx.options, keepDocs: false }, inputs);
  // An image made of the same entries has this very layer: keep its descriptor, make nothing.
  const reused = ctx.reuse?.entriesLayer(kind, inputs);
  if (reused) {
    const { digest, size, mediaType } = reused.descriptor;
    const blob = { digest, size, mediaType, diffId: reused.diffId, ...entriesPathsOf(entries) };
    return { blob, kind, packages: [], bytes: reused.bytes, recorded };
  }
  const blob = await build();
  await ctx.layerCache.put(entriesCacheKey(ctx, inputs), { ...blob, members: [] });
  return { blob, kind, packages: [], bytes: ctx.local, recorded };
}

/** The layer cache's key for entries of digest `inputs` (no docs are dropped from entries). */
function entriesCacheKey(ctx: ComposeContext, inputs: string): LayerCacheKey {
  return { ...ctx.options, keepDocs: false, debSha256: `entries:${inputs.slice("sha256:".length)}` };
}

/** The layer of entries whose digest is `inputs`, when the layer cache holds it. */
async function cachedEntriesLayer(
  ctx: ComposeContext,
  kind: "base" | "files",
  inputs: string,
): Promise<BuiltLayer | undefined> {
  const hit = await ctx.layerCache.get(entriesCacheKey(ctx, inputs));
  if (!hit) return undefined;
  const recorded = entriesLayerRecord(kind, { ...ctx.options, keepDocs: false }, inputs);
  return { blob: hit, kind, packages: [], bytes: ctx.local, recorded };
}
