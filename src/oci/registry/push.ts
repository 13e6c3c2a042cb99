import { Readable } from "node:stream";
import { mapLimit } from "../../util/concurrency.js";
import { StrataError } from "../../util/errors.js";
import { observed } from "../../util/http.js";
import { type Artifact, artifactDescriptor, artifactImages, imageDescriptor } from "../image.js";
import { type ArtifactBlob, contentBlobs, manifestBlobs } from "../layout.js";
import { formatReference, type ImageReference, parseReference } from "../reference.js";
import type { Descriptor, Platform } from "../types.js";
import { RegistryClient, type RegistryClientOptions, withRetry } from "./client.js";
import { KnownBlobs } from "./known-blobs.js";
import { attachToRegistry } from "./referrers.js";
import { RemoteRepository } from "./repository.js";

/**
 * Pushes an artifact: every config and layer blob (skipped when the registry has it, mounted from
 * another repository when we know one that has it, else uploaded — in parallel), then the child
 * manifests by digest, the artifacts attached to its images (Image.attached: their records), and
 * only then the tag. A push that fails part way leaves no tag pointing at a partial image.
 */

export type BlobOutcome = "uploaded" | "skipped" | "mounted";

export type PushEvent =
  | { type: "blob-start"; digest: string; size: number }
  | { type: "blob-progress"; digest: string; sent: number; size: number }
  | { type: "blob-done"; digest: string; size: number; outcome: BlobOutcome }
  | { type: "manifest-done"; digest: string; reference: string };

export interface PushOptions extends RegistryClientOptions {
  /** Blobs in flight at once (default 4). */
  concurrency?: number;
  /** Blobs larger than this go up in chunks (PATCH); smaller ones in one PUT. Default 64 MiB. */
  chunkThreshold?: number;
  /** Bytes per PATCH in a chunked upload. Default 16 MiB. */
  chunkSize?: number;
  onProgress?: (event: PushEvent) => void;
  /** Where blob locations are remembered for cross-repository mounts; false to neither use nor record them. */
  knownBlobs?: KnownBlobs | false;
}

export interface BlobCounts {
  uploaded: number;
  skipped: number;
  mounted: number;
  /** Blob bytes that went over the wire (uploads only). */
  bytesSent: number;
}

export interface ImagePushReport extends BlobCounts {
  digest: string;
  platform?: Platform;
}

export interface PushReport extends BlobCounts {
  /** Where it went, with the digest: "127.0.0.1:5000/app:1.0@sha256:…". */
  reference: string;
  digest: string;
  mediaType: string;
  /**
   * Per image, counted over that image's own blobs (a layer shared by two images of an index counts
   * in both); the top-level counts are over distinct blobs.
   */
  images: ImagePushReport[];
}

const DEFAULT_CHUNK_THRESHOLD = 64 << 20;
const DEFAULT_CHUNK_SIZE = 16 << 20;

interface BlobResult {
  outcome: BlobOutcome;
  bytesSent: number;
}

/** Reads a stream in pieces of exactly `size` bytes (the last may be shorter). */
async function* pieces(source: Readable, size: number): AsyncIterable<Buffer> {
  let held: Buffer[] = [];
  let heldBytes = 0;
  for await (const chunk of source) {
    let rest = chunk as Buffer;
    while (heldBytes + rest.length >= size) {
      const take = size - heldBytes;
      held.push(rest.subarray(0, take));
      yield Buffer.concat(held);
      rest = rest.subarray(take);
      held = [];
      heldBytes = 0;
    }
    if (rest.length > 0) {
      held.push(rest);
      heldBytes += rest.length;
    }
  }
  if (heldBytes > 0) yield Buffer.concat(held);
}

class Pusher {
  private readonly chunkThreshold: number;
  private readonly chunkSize: number;

  constructor(
    private readonly repo: RemoteRepository,
    private readonly known: KnownBlobs | undefined,
    private readonly opts: PushOptions,
  ) {
    this.chunkThreshold = opts.chunkThreshold ?? DEFAULT_CHUNK_THRESHOLD;
    this.chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  }

  private emit(event: PushEvent): void {
    this.opts.onProgress?.(event);
  }

  private get registry(): string {
    return this.repo.client.registry;
  }

  async pushBlob(blob: ArtifactBlob): Promise<BlobResult> {
    const { digest, size } = blob.descriptor;
    this.emit({ type: "blob-start", digest, size });
    // One retry unit is the whole blob: a half-sent upload session cannot be resumed reliably.
    const result = await withRetry(this.registry, `push blob ${digest}`, this.repo.client.retry, () =>
      this.tryBlob(blob),
    );
    this.known?.record(this.registry, digest, this.repo.name);
    this.emit({ type: "blob-done", digest, size, outcome: result.outcome });
    return result;
  }

  private async tryBlob(blob: ArtifactBlob): Promise<BlobResult> {
    const { digest } = blob.descriptor;
    if (await this.repo.hasBlob(digest)) return { outcome: "skipped", bytesSent: 0 };
    let location: string | undefined;
    const from = this.known?.otherRepository(this.registry, digest, this.repo.name);
    if (from !== undefined) {
      const mount = await this.repo.mountBlob(digest, from);
      if (mount.mounted) return { outcome: "mounted", bytesSent: 0 };
      location = mount.location; // the registry declined and opened an upload session instead
    }
    location ??= await this.repo.startUpload(digest);
    const bytesSent =
      blob.descriptor.size > this.chunkThreshold
        ? await this.uploadChunked(blob, location)
        : await this.uploadWhole(blob, location);
    return { outcome: "uploaded", bytesSent };
  }

  private open(blob: ArtifactBlob): Promise<Readable> {
    if (blob.bytes !== undefined) return Promise.resolve(Readable.from([blob.bytes]));
    return blob.source!.open(blob.descriptor.digest);
  }

  private async uploadWhole(blob: ArtifactBlob, location: string): Promise<number> {
    const { digest, size } = blob.descriptor;
    let sent = 0;
    await this.repo.finishUpload(location, digest, {
      size,
      open: async () => {
        sent = 0;
        return Readable.from(
          observed(await this.open(blob), (chunk) => {
            sent += chunk.length;
            this.emit({ type: "blob-progress", digest, sent, size });
          }),
        );
      },
    });
    return sent;
  }

  private async uploadChunked(blob: ArtifactBlob, location: string): Promise<number> {
    const { digest, size } = blob.descriptor;
    let sent = 0;
    let next = location;
    for await (const chunk of pieces(await this.open(blob), this.chunkSize)) {
      next = await this.repo.uploadChunk(next, digest, sent, chunk);
      sent += chunk.length;
      this.emit({ type: "blob-progress", digest, sent, size });
    }
    await this.repo.finishUpload(next, digest);
    return sent;
  }

  /**
   * PUTs a manifest under `reference` and checks the digest the registry says it stored: a registry
   * that stores other bytes than those sent is refused (for a digest PUT, before any tag exists).
   */
  async putManifest(reference: string, descriptor: Descriptor, bytes: Buffer): Promise<void> {
    const reported = await withRetry(this.registry, `put manifest ${reference}`, this.repo.client.retry, () =>
      this.repo.putManifest(reference, descriptor.mediaType, bytes),
    );
    if (reported !== undefined && reported !== descriptor.digest) {
      const tagNote =
        reference === descriptor.digest ? "; no tag was set" : `; the tag ${reference} may point at it`;
      throw new StrataError(
        "HASH_MISMATCH",
        `${this.repo.where}: registry stored manifest ${reference} as ${reported}, expected ${descriptor.digest}${tagNote}`,
        {
          hint: "the registry altered the manifest; check it (or a proxy in front of it) before trusting the tag",
        },
      );
    }
    this.emit({ type: "manifest-done", digest: descriptor.digest, reference });
  }
}

function sumCounts(results: BlobResult[]): BlobCounts {
  const counts: BlobCounts = { uploaded: 0, skipped: 0, mounted: 0, bytesSent: 0 };
  for (const r of results) {
    counts[r.outcome]++;
    counts.bytesSent += r.bytesSent;
  }
  return counts;
}

/** The tag or digest the top manifest goes under; a digest in `ref` must be the artifact's. */
function topReference(ref: ImageReference, top: Descriptor): string {
  if (ref.digest !== undefined && ref.digest !== top.digest) {
    throw new StrataError("USAGE", `${formatReference(ref)}: the artifact's digest is ${top.digest}`, {
      hint: "push by tag, or name the digest the artifact has",
    });
  }
  return ref.tag ?? top.digest;
}

/** Pushes `artifact` to `ref` ("host/repo:tag" or a parsed reference) and says what was sent. */
export async function pushArtifact(
  artifact: Artifact,
  ref: ImageReference | string,
  opts: PushOptions = {},
): Promise<PushReport> {
  const target = typeof ref === "string" ? parseReference(ref) : ref;
  const top = artifactDescriptor(artifact);
  const reference = topReference(target, top);
  const client = await RegistryClient.connect(target.registry, opts);
  const known = opts.knownBlobs === false ? undefined : (opts.knownBlobs ?? (await KnownBlobs.load()));
  const repo = new RemoteRepository(client, target.repository);
  const pusher = new Pusher(repo, known, opts);
  try {
    const blobs = contentBlobs(artifact);
    const results = new Map<string, BlobResult>();
    await mapLimit(blobs, opts.concurrency ?? 4, async (blob) => {
      results.set(blob.descriptor.digest, await pusher.pushBlob(blob));
    });

    // Every manifest by digest first, each checked; the tag last, once the whole image is in place.
    const manifests = manifestBlobs(artifact);
    for (const manifest of manifests) {
      await pusher.putManifest(manifest.descriptor.digest, manifest.descriptor, manifest.bytes!);
    }
    // Each replaces an earlier one of its type for the same image in a fallback index (other tools' stay).
    for (const referrer of artifactImages(artifact).flatMap((image) => image.attached ?? [])) {
      const type = referrer.descriptor.artifactType;
      await attachToRegistry(repo, referrer, (d) => d.artifactType === type);
      if (referrer.tag !== undefined)
        await pusher.putManifest(referrer.tag, referrer.descriptor, referrer.manifestBytes);
    }
    const last = manifests.at(-1)!;
    if (reference !== last.descriptor.digest)
      await pusher.putManifest(reference, last.descriptor, last.bytes!);

    const images: ImagePushReport[] = artifactImages(artifact).map((image) => {
      const own = [image.manifest.config, ...image.manifest.layers].map((d) => results.get(d.digest)!);
      const { architecture, os, variant } = image.config;
      const platform: Platform = variant ? { architecture, os, variant } : { architecture, os };
      return { digest: imageDescriptor(image).digest, platform, ...sumCounts(own) };
    });
    return {
      reference: formatReference({ ...target, digest: top.digest }),
      digest: top.digest,
      mediaType: top.mediaType,
      images,
      ...sumCounts([...results.values()]),
    };
  } finally {
    // The mount hints are a cache: failing to save them must not turn a push into a failure.
    await known?.save().catch(() => undefined);
    await client.close();
  }
}
