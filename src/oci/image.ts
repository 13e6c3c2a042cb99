import { Readable } from "node:stream";
import { type ErrorCode, StrataError } from "../util/errors.js";
import { sha256Hex } from "../util/hash.js";
import type { Descriptor, ImageConfig, Index, Manifest } from "./types.js";

/**
 * What an image *is*, apart from where it lives. Like go-containerregistry's v1.Image, an image is
 * its manifest, its config and a way to read its blobs; a layout directory, an archive and a
 * registry are only image locations (see layout.ts, archive.ts, registry/).
 */
export interface BlobSource {
  /**
   * Opens a blob's bytes by digest ("sha256:..."). Rejects if the blob is not there. A blob no
   * descriptor gives the size of (one an annotation names) is opened with `limit`: a registry
   * serves it only within that bound (and without it, only blobs its manifests describe).
   */
  open(digest: string, limit?: { maxBytes: number }): Promise<Readable>;
  /** A local file holding the blob, when there is one (lets a writer hardlink or copy instead of stream). */
  localPath?(digest: string): string | undefined;
}

/**
 * A source's answer that it has no such blob (a 404, no such file or archive member), as opposed to
 * failing to read one it has: a reader may do without a blob that is absent, never one it could not read.
 */
export class MissingBlobError extends StrataError {
  constructor(code: ErrorCode, message: string) {
    super(code, message);
  }
}

/** Blobs held in memory (a record made by a build), opened by digest. */
export function memoryBlobs(blobs: Buffer[]): BlobSource {
  const byDigest = new Map(blobs.map((bytes) => [`sha256:${sha256Hex(bytes)}`, bytes]));
  return {
    async open(digest: string): Promise<Readable> {
      const bytes = byDigest.get(digest);
      if (bytes === undefined) throw new MissingBlobError("IO", `no blob ${digest} in memory`);
      return Readable.from([bytes]);
    },
  };
}

/** The empty descriptor of image-spec 1.1: the config of an artifact that has none. */
export const EMPTY_JSON = Buffer.from("{}");
export const EMPTY_DESCRIPTOR: Descriptor = descriptorOf("application/vnd.oci.empty.v1+json", EMPTY_JSON);

/** An OCI 1.1 artifact attached to an image (its `subject`), see referrers.ts. */
export interface Referrer {
  manifest: Manifest;
  manifestBytes: Buffer;
  /** What lists name it by: the manifest's descriptor with its artifactType and annotations. */
  descriptor: Descriptor;
  payload: { descriptor: Descriptor; bytes: Buffer };
  /**
   * A registry tag it is also kept under, so that collecting untagged manifests
   * (`garbage-collect --delete-untagged`) keeps it and its payload, as cosign's `.sig` tags are.
   */
  tag?: string;
}

export interface Image {
  manifest: Manifest;
  /** The exact bytes whose sha256 is the image digest. */
  manifestBytes: Buffer;
  config: ImageConfig;
  configBytes: Buffer;
  blobs: BlobSource;
  /**
   * Artifacts that travel with the image (strata's record): every image location with a place for them
   * (a layout, an oci-archive, a registry) gets them wherever the image is written.
   */
  attached?: Referrer[];
}

export interface ImageIndex {
  index: Index;
  indexBytes: Buffer;
  /** The images the index names, in the order of index.manifests. */
  images: Image[];
}

/** One thing an image location stores under a name: either a single image or an index of images. */
export type Artifact = { kind: "image"; image: Image } | { kind: "index"; index: ImageIndex };

/** Canonical JSON bytes for a manifest, index or config: keys as given, no whitespace. */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}

export function descriptorOf(mediaType: string, bytes: Buffer, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: `sha256:${sha256Hex(bytes)}`, size: bytes.length, ...extra };
}

export function imageDescriptor(image: Image, extra: Partial<Descriptor> = {}): Descriptor {
  return descriptorOf(image.manifest.mediaType, image.manifestBytes, extra);
}

export function artifactDescriptor(artifact: Artifact): Descriptor {
  return artifact.kind === "image"
    ? imageDescriptor(artifact.image)
    : descriptorOf(artifact.index.index.mediaType, artifact.index.indexBytes);
}

/** Every image in an artifact. */
export function artifactImages(artifact: Artifact): Image[] {
  return artifact.kind === "image" ? [artifact.image] : artifact.index.images;
}
