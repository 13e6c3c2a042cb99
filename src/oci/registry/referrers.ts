import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { StrataError } from "../../util/errors.js";
import { verified } from "../../util/verify.js";
import { EMPTY_DESCRIPTOR, EMPTY_JSON, type Referrer } from "../image.js";
import { checkBytes } from "../layout.js";
import { composeIndex } from "../mutate.js";
import { parseIndex, parseManifest } from "../parse.js";
import { type Descriptor, digestHex, type Manifest, MediaType } from "../types.js";
import { MAX_ANSWER_BYTES, registryFailure, withRetry } from "./client.js";
import type { RemoteRepository } from "./repository.js";

/**
 * Referrers in a registry (distribution-spec 1.1): pushed as manifests with a `subject`; a registry
 * with the referrers API says so with an `OCI-Subject` header and lists them at
 * `/v2/NAME/referrers/DIGEST`. One without it (Debian's docker-registry 2.8) gets the fallback the
 * spec describes: an index of the referrers' descriptors under the tag `sha256-<hex of subject>`,
 * which the client keeps up to date itself.
 */

/** The tag of the referrers index for `subject` where a registry has no referrers API. */
export function fallbackTag(subject: string): string {
  return `sha256-${digestHex(subject)}`;
}

/** Pushes a small blob held in memory, unless the repository has it. */
export async function pushBlob(repo: RemoteRepository, descriptor: Descriptor, bytes: Buffer): Promise<void> {
  const { client } = repo;
  await withRetry(client.registry, `push blob ${descriptor.digest}`, client.retry, async () => {
    if (await repo.hasBlob(descriptor.digest)) return;
    const location = await repo.startUpload(descriptor.digest);
    await repo.finishUpload(location, descriptor.digest, {
      size: bytes.length,
      open: async () => Readable.from([bytes]),
    });
  });
}

/** PUTs the referrer's manifest by digest; true when the registry answered with OCI-Subject (it has the API). */
async function putReferrerManifest(repo: RemoteRepository, referrer: Referrer): Promise<boolean> {
  const { client } = repo;
  const what = `put manifest ${referrer.descriptor.digest}`;
  const res = await client.request({
    method: "PUT",
    url: `/v2/${repo.name}/manifests/${referrer.descriptor.digest}`,
    scopes: repo.pushScope(),
    headers: {
      "content-type": MediaType.ociManifest,
      "content-length": String(referrer.manifestBytes.length),
    },
    body: () => referrer.manifestBytes,
    what,
  });
  await res.body?.cancel();
  if (![201, 202, 204].includes(res.status))
    throw await registryFailure(client.registry, res, `${repo.name}: ${what}`);
  return res.headers.get("oci-subject") !== null;
}

/** The descriptors of the referrers index kept under the fallback tag (none when there is none). */
async function fallbackIndex(repo: RemoteRepository, subject: string): Promise<Descriptor[]> {
  const tag = fallbackTag(subject);
  const got = await withRetry(repo.client.registry, `get manifest ${tag}`, repo.client.retry, () =>
    repo.getManifest(tag),
  );
  if (got === undefined) return [];
  return parseIndex(got.bytes, `${repo.where}:${tag}`, MediaType.ociIndex, "REGISTRY").manifests;
}

/**
 * Attaches `referrer` to its subject in `repo`: blobs, then the manifest; where the registry has no
 * referrers API, the fallback index under `sha256-<hex>` is rewritten with the referrer in place of
 * the earlier ones `sameKind` picks (other tools' referrers stay). Without `sameKind` there is no
 * fallback: for artifacts that have a tag scheme of their own (cosign's signatures).
 */
export async function attachToRegistry(
  repo: RemoteRepository,
  referrer: Referrer,
  sameKind?: (d: Descriptor) => boolean,
): Promise<{ api: boolean }> {
  await pushBlob(repo, EMPTY_DESCRIPTOR, EMPTY_JSON);
  await pushBlob(repo, referrer.payload.descriptor, referrer.payload.bytes);
  if (await putReferrerManifest(repo, referrer)) return { api: true };
  if (sameKind === undefined) return { api: false };
  const subject = referrer.manifest.subject!.digest;
  const earlier = await fallbackIndex(repo, subject);
  const { indexBytes: bytes } = composeIndex([...earlier.filter((d) => !sameKind(d)), referrer.descriptor]);
  await withRetry(repo.client.registry, `put referrers index for ${subject}`, repo.client.retry, () =>
    repo.putManifest(fallbackTag(subject), MediaType.ociIndex, bytes),
  );
  return { api: false };
}

/** The referrers of `subject` in `repo`: from the referrers API, else from the fallback tag's index. */
export async function registryReferrers(repo: RemoteRepository, subject: string): Promise<Descriptor[]> {
  const { client } = repo;
  const what = `list referrers of ${subject}`;
  const res = await withRetry(client.registry, what, client.retry, () =>
    client.once({
      method: "GET",
      url: `/v2/${repo.name}/referrers/${subject}`,
      scopes: repo.pullScope(),
      what,
    }),
  );
  // 404 is the usual answer of a registry without the API; some answer 400, 405 or 501.
  if ([400, 404, 405, 501].includes(res.status)) {
    await res.body?.cancel();
    return await fallbackIndex(repo, subject);
  }
  if (res.status !== 200) throw await registryFailure(client.registry, res, `${repo.name}: ${what}`);
  const bytes = Buffer.from(await res.arrayBuffer());
  return parseIndex(bytes, `${repo.where}: referrers of ${subject}`, MediaType.ociIndex, "REGISTRY")
    .manifests;
}

/** A referrer's manifest, fetched by digest within its descriptor's size and checked against it. */
export async function referrerManifest(repo: RemoteRepository, descriptor: Descriptor): Promise<Manifest> {
  const size = Math.min(descriptor.size, MAX_ANSWER_BYTES);
  const got = await withRetry(
    repo.client.registry,
    `get manifest ${descriptor.digest}`,
    repo.client.retry,
    () => repo.getManifest(descriptor.digest, size),
  );
  if (got === undefined)
    throw new StrataError("REGISTRY", `${repo.where}: referrer ${descriptor.digest} is missing`);
  checkBytes(descriptor, got.bytes, repo.where);
  return parseManifest(got.bytes, `${repo.where}@${descriptor.digest}`, MediaType.ociManifest, "REGISTRY");
}

/** A referrer's payload blob, at most `max` bytes, verified against its digest as it is read. */
export async function referrerPayload(
  repo: RemoteRepository,
  layer: Descriptor,
  max: number,
): Promise<Buffer> {
  if (layer.size > max)
    throw new StrataError(
      "REGISTRY",
      `${repo.where}: attached blob ${layer.digest} is ${layer.size} bytes, more than ${max}`,
    );
  const { client } = repo;
  const res = await withRetry(client.registry, `get blob ${layer.digest}`, client.retry, () =>
    repo.getBlob(layer.digest, layer.size),
  );
  if (res.body === null) throw new StrataError("REGISTRY", `${repo.where}: blob ${layer.digest} has no body`);
  const stream = verified(
    Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
    digestHex(layer.digest),
    {
      size: layer.size,
      what: `${repo.where}: blob ${layer.digest}`,
    },
  );
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
