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
 * a config, a manifest or an index happens here and only here (test/unit/one-serialiser.test.ts),
 * so equal inputs give equal bytes.
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
  const { manifest, manifestBytes } = composeManifest(
    descriptorOf(MediaType.ociConfig, configBytes),
    parts.layers.map((l) => l.layer.descriptor),
    parts.annotations ? { annotations: parts.annotations } : {},
  );
  const layers = parts.layers.map((l) => l.layer);
  const blobs = new ComposedBlobs(manifest.config.digest, configBytes, layers, parts.others);
  return { manifest, manifestBytes, config, configBytes, blobs };
}

/** An OCI manifest of `config` and `layers` (an artifact's: with its type and subject), serialised. */
export function composeManifest(
  config: Descriptor,
  layers: Descriptor[],
  extra: Pick<Manifest, "artifactType" | "subject" | "annotations"> = {},
): { manifest: Manifest; manifestBytes: Buffer } {
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    ...(extra.artifactType === undefined ? {} : { artifactType: extra.artifactType }),
    config,
    layers,
    ...(extra.subject === undefined ? {} : { subject: extra.subject }),
    ...(extra.annotations === undefined ? {} : { annotations: extra.annotations }),
  };
  return { manifest, manifestBytes: jsonBytes(manifest) };
}

/** An OCI index of `manifests` (an artifact's, a layout's index.json, a referrers index), serialised. */
export function composeIndex(manifests: Descriptor[]): { index: Index; indexBytes: Buffer } {
  const index: Index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  return { index, indexBytes: jsonBytes(index) };
}

/** One image, or an index of several (one per platform), serialised here. */
export function composeArtifact(images: { image: Image; platform: Platform }[]): Artifact {
  if (images.length === 1) return { kind: "image", image: images[0].image };
  const { index, indexBytes } = composeIndex(
    images.map(({ image, platform }) =>
      descriptorOf(image.manifest.mediaType, image.manifestBytes, { platform }),
    ),
  );
  return { kind: "index", index: { index, indexBytes, images: images.map((i) => i.image) } };
}
