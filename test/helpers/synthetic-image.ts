import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { type Artifact, type BlobSource, descriptorOf, type Image, jsonBytes } from "../../src/oci/image.js";
import {
  type Descriptor,
  digestHex,
  type ImageConfig,
  type Manifest,
  MediaType,
  type Platform,
} from "../../src/oci/types.js";
import type { ContentStore } from "../../src/util/cas.js";
import { StrataError } from "../../src/util/errors.js";
import { sha256Hex } from "../../src/util/hash.js";
import { type RecordedTestPackage, withTestRecord } from "./record.js";

/**
 * Small but real images for tests of the image locations (layout, archives, registry): each layer is a gzip of
 * a tar of random files, so layers are unique unless a test shares them on purpose. The real builder
 * lives elsewhere; these exist so the image locations can be tested without it.
 */

export interface SyntheticLayer {
  descriptor: Descriptor;
  diffId: string;
  bytes: Buffer;
  /** The packages a strata record says the layer holds: an image of it gets a record (record.ts). */
  recorded?: RecordedTestPackage[];
}

async function tarOf(files: { name: string; body: Buffer }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const f of files)
    pack.entry({ name: f.name, size: f.body.length, mode: 0o644, mtime: new Date(0) }, f.body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A gzip tar layer of `files` random files of `fileSize` bytes each under `/data/<name>`. */
export async function syntheticLayer(
  opts: { name?: string; files?: number; fileSize?: number } = {},
): Promise<SyntheticLayer> {
  const name = opts.name ?? randomBytes(4).toString("hex");
  const files = Array.from({ length: opts.files ?? 2 }, (_, i) => ({
    name: `data/${name}-${i}.bin`,
    body: randomBytes(opts.fileSize ?? 1024),
  }));
  const tarBytes = await tarOf(files);
  const bytes = gzipSync(tarBytes, { level: 1 });
  return {
    descriptor: descriptorOf(MediaType.ociLayerGzip, bytes),
    diffId: `sha256:${sha256Hex(tarBytes)}`,
    bytes,
  };
}

/** Serves blobs from memory; a shared instance can back several images. */
export class MemoryBlobSource implements BlobSource {
  private readonly blobs = new Map<string, Buffer>();

  add(digest: string, bytes: Buffer): void {
    this.blobs.set(digest, bytes);
  }

  async open(digest: string): Promise<Readable> {
    const bytes = this.blobs.get(digest);
    if (bytes === undefined) throw new StrataError("IO", `synthetic image: no blob ${digest}`);
    return Readable.from([bytes]);
  }
}

/** Serves blobs from a content store and offers its files for hardlinking. */
export function storeBlobSource(store: ContentStore): BlobSource {
  return {
    open: async (digest) => store.open(digestHex(digest)),
    localPath: (digest) => store.path(digestHex(digest)),
  };
}

export interface SyntheticImageOptions {
  platform?: Platform;
  /** Defaults to a new MemoryBlobSource holding the layers. */
  blobs?: BlobSource;
  /** A label, so that two images with the same layers still differ when a test wants them to. */
  label?: string;
}

/** An OCI image of `layers`, with a config naming their diff IDs. */
export function syntheticImage(layers: SyntheticLayer[], opts: SyntheticImageOptions = {}): Image {
  const platform = opts.platform ?? { architecture: "amd64", os: "linux" };
  let blobs = opts.blobs;
  if (blobs === undefined) {
    const memory = new MemoryBlobSource();
    for (const layer of layers) memory.add(layer.descriptor.digest, layer.bytes);
    blobs = memory;
  }
  const config: ImageConfig = {
    created: "1970-01-01T00:00:00Z",
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: { Cmd: ["/bin/true"], Labels: opts.label ? { "test.label": opts.label } : undefined },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
  };
  const configBytes = jsonBytes(config);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: descriptorOf(MediaType.ociConfig, configBytes),
    layers: layers.map((l) => l.descriptor),
  };
  const image = { manifest, manifestBytes: jsonBytes(manifest), config, configBytes, blobs };
  if (!layers.some((l) => l.recorded)) return image;
  return withTestRecord(
    image,
    layers.map((l) => l.recorded),
  );
}

export function imageArtifact(image: Image): Artifact {
  return { kind: "image", image };
}

/** An index of `images`, each entry carrying its platform. */
export function syntheticIndex(images: Image[]): Artifact {
  const index = {
    schemaVersion: 2 as const,
    mediaType: MediaType.ociIndex,
    manifests: images.map((image) =>
      descriptorOf(image.manifest.mediaType, image.manifestBytes, {
        platform: {
          architecture: image.config.architecture,
          os: image.config.os,
          ...(image.config.variant ? { variant: image.config.variant } : {}),
        },
      }),
    ),
  };
  return { kind: "index", index: { index, indexBytes: jsonBytes(index), images } };
}

/** A whole single-platform image with `layerCount` fresh layers. */
export async function freshImage(layerCount = 2, opts: SyntheticImageOptions & { fileSize?: number } = {}) {
  const layers = await Promise.all(
    Array.from({ length: layerCount }, () => syntheticLayer({ fileSize: opts.fileSize })),
  );
  return { layers, image: syntheticImage(layers, opts) };
}
