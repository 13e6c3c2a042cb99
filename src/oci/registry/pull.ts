import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { StrataError } from "../../util/errors.js";
import { sha256Hex } from "../../util/hash.js";
import { verified } from "../../util/verify.js";
import { type Artifact, artifactImages, type BlobSource } from "../image.js";
import { assembleArtifact, type ManifestReader } from "../layout.js";
import { sniffMediaType } from "../parse.js";
import { formatReference, type ImageReference, manifestSelector, parseReference } from "../reference.js";
import { type Descriptor, digestHex, MediaType } from "../types.js";
import { RegistryClient, type RegistryClientOptions, withRetry } from "./client.js";
import { RemoteRepository } from "./repository.js";

/**
 * Pulls an artifact lazily, like go-containerregistry's `remote`: manifests and configs are fetched
 * and verified now; layer bytes are streamed from the registry only when someone opens them, and
 * each stream fails with HASH_MISMATCH at its end if the bytes are not what the digest says.
 */

export type PullOptions = RegistryClientOptions;

/** Streams blobs from a repository, each bounded by and verified against its descriptor. */
class RemoteBlobSource implements BlobSource {
  /** Sizes of the blobs this source may serve: only what a verified manifest described is read. */
  readonly sizes = new Map<string, number>();

  constructor(private readonly repo: RemoteRepository) {}

  async open(digest: string, limit?: { maxBytes: number }): Promise<Readable> {
    const size = this.sizes.get(digest);
    if (size === undefined && limit === undefined) {
      throw new StrataError(
        "REGISTRY",
        `${this.repo.where}: blob ${digest} is not described by the manifest`,
      );
    }
    const res = await withRetry(this.repo.client.registry, `get blob ${digest}`, this.repo.client.retry, () =>
      this.repo.getBlob(digest, size ?? limit!.maxBytes),
    );
    if (res.body === null)
      throw new StrataError("REGISTRY", `${this.repo.where}: blob ${digest} has no body`);
    return verified(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), digestHex(digest), {
      size,
      what: `${this.repo.where}: blob ${digest}`,
    });
  }

  async readAll(descriptor: Descriptor): Promise<Buffer> {
    this.sizes.set(descriptor.digest, descriptor.size);
    const chunks: Buffer[] = [];
    for await (const chunk of await this.open(descriptor.digest)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }
}

/**
 * Pulls the artifact named by `ref`; blobs are read from the registry when opened, so the returned
 * artifact keeps its connection settings (and any TLS agent) alive for as long as it is used.
 */
export async function pullArtifact(ref: ImageReference | string, opts: PullOptions = {}): Promise<Artifact> {
  const source = typeof ref === "string" ? parseReference(ref) : ref;
  const artifact = await pullIfPresent(source, opts);
  if (artifact === undefined) {
    throw new StrataError("REGISTRY", `${formatReference(source)}: no such manifest (404)`, {
      hint: "check the repository name and tag",
    });
  }
  return artifact;
}

/** The artifact named by `ref`, or undefined when the registry has no such manifest (a first push). */
export async function pullIfPresent(
  ref: ImageReference | string,
  opts: PullOptions = {},
): Promise<Artifact | undefined> {
  const source = typeof ref === "string" ? parseReference(ref) : ref;
  const client = await RegistryClient.connect(source.registry, opts);
  const repo = new RemoteRepository(client, source.repository);
  const selector = manifestSelector(source);

  const fetchManifest = (reference: string, maxBytes?: number) =>
    withRetry(client.registry, `get manifest ${reference}`, client.retry, () =>
      repo.getManifest(reference, maxBytes),
    );
  const got = await fetchManifest(selector);
  if (got === undefined) return undefined;
  const digest = source.digest ?? `sha256:${sha256Hex(got.bytes)}`;
  if (got.digest !== undefined && source.digest === undefined && got.digest !== digest) {
    throw new StrataError(
      "HASH_MISMATCH",
      `${formatReference(source)}: manifest bytes hash to ${digest}, registry says ${got.digest}`,
    );
  }
  const top: Descriptor = {
    mediaType: sniffMediaType(got.bytes, got.contentType) ?? MediaType.ociManifest,
    digest,
    size: got.bytes.length,
  };

  const blobs = new RemoteBlobSource(repo);
  const reader: ManifestReader = {
    where: formatReference(source),
    // Every descriptor reaching the reader below was validated by assembleArtifact's parsers.
    invalidCode: "REGISTRY",
    manifest: async (d) => {
      const child = await fetchManifest(d.digest, d.size);
      if (child === undefined)
        throw new StrataError("REGISTRY", `${repo.where}: manifest ${d.digest} is missing`);
      return child.bytes;
    },
    config: (d) => blobs.readAll(d),
  };
  const artifact = await assembleArtifact(top, got.bytes, reader, blobs);
  for (const image of artifactImages(artifact)) {
    for (const layer of image.manifest.layers) {
      blobs.sizes.set(layer.digest, layer.size);
    }
  }
  return artifact;
}
