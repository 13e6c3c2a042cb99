import { Readable } from "node:stream";
import {
  type Artifact,
  type BlobSource,
  descriptorOf,
  type Image,
  jsonBytes,
  MissingBlobError,
} from "./image.js";
import {
  type Descriptor,
  type HistoryEntry,
  type ImageConfig,
  type Index,
  type Manifest,
  MediaType,
  type Platform,
} from "./types.js";

/**
 * Making new images from old ones, wherever their layers live (go-containerregistry's `mutate`).
 * A layer is a value: its descriptor, its diff_id and a lazy way to its bytes (a cache file, an OCI
 * layout, an archive member, a registry blob); nothing is read until a writer opens it. Serialising
 * a config, a manifest or an index happens here and only here, so equal inputs give equal bytes.
 */

export interface Layer {
  /** The manifest's descriptor of the layer, annotations included. */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar: the config's rootfs entry. */
  diffId: string;
  open(): Promise<Readable>;
  /** A local file with the blob, when there is one (lets a writer hardlink instead of stream). */
  localPath?(): string | undefined;
}

/** A layer of an image, with the history entries that go with it (empty-layer ones first, its own last). */
export interface ImageLayer {
  layer: Layer;
  history: HistoryEntry[];
}

/** What an image is made of: its config without rootfs and history, its layers, its annotations. */
export interface ImageParts {
  config: Omit<ImageConfig, "rootfs" | "history">;
  layers: ImageLayer[];
  /** History entries after the last layer (empty-layer ones), kept in place. */
  trailingHistory?: HistoryEntry[];
  annotations?: Record<string, string>;
  /** Where the blobs its annotations name are (an image record): opened by digest, like a layer. */
  others?: BlobSource;
}

/** A layer whose bytes `blobs` holds under its digest. */
export function blobLayer(descriptor: Descriptor, diffId: string, blobs: BlobSource): Layer {
  return {
    descriptor,
    diffId,
    open: () => blobs.open(descriptor.digest),
    localPath: blobs.localPath ? () => blobs.localPath!(descriptor.digest) : undefined,
  };
}

/** An image taken apart into the values `composeImage` puts together again (byte for byte). */
export function imageParts(image: Image): ImageParts {
  const { rootfs, history = [], ...config } = image.config;
  const layers: ImageLayer[] = [];
  let pending: HistoryEntry[] = [];
  let next = 0;
  for (const entry of history) {
    pending.push(entry);
    if (entry.empty_layer || next >= image.manifest.layers.length) continue;
    layers.push({
      layer: blobLayer(image.manifest.layers[next], rootfs.diff_ids[next], image.blobs),
      history: pending,
    });
    pending = [];
    next++;
  }
  // A config with fewer history entries than layers: the rest have none.
  for (; next < image.manifest.layers.length; next++) {
    layers.push({
      layer: blobLayer(image.manifest.layers[next], rootfs.diff_ids[next], image.blobs),
      history: [],
    });
  }
  return {
    config,
    layers,
    trailingHistory: pending,
    annotations: image.manifest.annotations,
    others: image.blobs,
  };
}

/** Blobs of a composed image: its config from memory, each layer from wherever that layer lives. */
class ComposedBlobs implements BlobSource {
  private readonly layers = new Map<string, Layer>();

  constructor(
    private readonly configDigest: string,
    private readonly configBytes: Buffer,
    layers: Layer[],
    private readonly others?: BlobSource,
  ) {
    for (const layer of layers) this.layers.set(layer.descriptor.digest, layer);
  }

  async open(digest: string, limit?: { maxBytes: number }): Promise<Readable> {
    if (digest === this.configDigest) return Readable.from([this.configBytes]);
    const layer = this.layers.get(digest);
    if (layer) return layer.open();
    if (this.others) return this.others.open(digest, limit);
    throw new MissingBlobError("IO", `no blob ${digest} in this image`);
  }

  localPath(digest: string): string | undefined {
    return this.layers.get(digest)?.localPath?.();
  }
}

/** Serialises config and manifest of `parts`: the one place an image's JSON is written. */
export function composeImage(parts: ImageParts): Image {
  const history = [...parts.layers.flatMap((l) => l.history), ...(parts.trailingHistory ?? [])];
  const config: ImageConfig = {
    ...parts.config,
    rootfs: { type: "layers", diff_ids: parts.layers.map((l) => l.layer.diffId) },
    ...(history.length > 0 ? { history } : {}),
  };
  const configBytes = jsonBytes(config);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: descriptorOf(MediaType.ociConfig, configBytes),
    layers: parts.layers.map((l) => l.layer.descriptor),
    ...(parts.annotations ? { annotations: parts.annotations } : {}),
  };
  const layers = parts.layers.map((l) => l.layer);
  const blobs = new ComposedBlobs(manifest.config.digest, configBytes, layers, parts.others);
  return { manifest, manifestBytes: jsonBytes(manifest), config, configBytes, blobs };
}

/** `image` with the layer at `at` replaced by `layer` (its history entries kept unless given). */
export function replaceLayer(image: Image, at: number, layer: Layer, history?: HistoryEntry[]): Image {
  const parts = imageParts(image);
  checkPosition(parts, at, false);
  const old = parts.layers[at];
  parts.layers[at] = { layer, history: history ?? old.history };
  return composeImage(parts);
}

/** `image` with `layer` inserted before position `at` (at = the layer count appends). */
export function insertLayer(image: Image, at: number, layer: Layer, history: HistoryEntry[]): Image {
  const parts = imageParts(image);
  checkPosition(parts, at, true);
  parts.layers.splice(at, 0, { layer, history });
  return composeImage(parts);
}

/** `image` without the layer at `at` (and its history entries). */
export function removeLayer(image: Image, at: number): Image {
  const parts = imageParts(image);
  checkPosition(parts, at, false);
  parts.layers.splice(at, 1);
  return composeImage(parts);
}

/** `image` with config fields set (`undefined` removes one), e.g. { created }, { config: {...} }. */
export function setConfig(image: Image, fields: Partial<Omit<ImageConfig, "rootfs" | "history">>): Image {
  const parts = imageParts(image);
  const config: Record<string, unknown> = { ...parts.config, ...fields };
  for (const [key, value] of Object.entries(config)) if (value === undefined) delete config[key];
  return composeImage({ ...parts, config: config as ImageParts["config"] });
}

/** `image` with manifest annotations set (`undefined` removes one). */
export function setAnnotations(image: Image, annotations: Record<string, string | undefined>): Image {
  const parts = imageParts(image);
  const merged: Record<string, string | undefined> = { ...parts.annotations, ...annotations };
  const kept = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)) as Record<
    string,
    string
  >;
  return composeImage({ ...parts, annotations: Object.keys(kept).length > 0 ? kept : undefined });
}

function checkPosition(parts: ImageParts, at: number, insert: boolean): void {
  const last = parts.layers.length - (insert ? 0 : 1);
  if (!Number.isInteger(at) || at < 0 || at > last) {
    throw new RangeError(`layer position ${at} is outside 0..${last}`);
  }
}

/** One image, or an index of several (one per platform), serialised here. */
export function composeArtifact(images: { image: Image; platform: Platform }[]): Artifact {
  if (images.length === 1) return { kind: "image", image: images[0].image };
  const index: Index = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: images.map(({ image, platform }) =>
      descriptorOf(image.manifest.mediaType, image.manifestBytes, { platform }),
    ),
  };
  return {
    kind: "index",
    index: { index, indexBytes: jsonBytes(index), images: images.map((i) => i.image) },
  };
}
