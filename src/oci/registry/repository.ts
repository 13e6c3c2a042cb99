import type { Readable } from "node:stream";
import { StrataError } from "../../util/errors.js";
import { checkedDigestHex } from "../../util/verify.js";
import { MissingBlobError } from "../image.js";
import type { ImageReference } from "../reference.js";
import { MediaType } from "../types.js";
import { MAX_ANSWER_BYTES, RegistryClient, type RegistryClientOptions, registryFailure } from "./client.js";

/**
 * The distribution-spec endpoints of one repository, each a single attempt (`client.once`): the
 * push and pull code decide what one retryable unit is (a whole blob upload, a manifest PUT).
 */

export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerManifestList,
  MediaType.dockerManifest,
].join(", ");

export type MountResult = { mounted: true } | { mounted: false; location: string };

export class RemoteRepository {
  constructor(
    readonly client: RegistryClient,
    readonly name: string,
  ) {}

  /** The repository of `ref`, on a client of its own, and how to let it go. */
  static async open(
    ref: ImageReference,
    opts: RegistryClientOptions,
  ): Promise<{ repo: RemoteRepository; close: () => Promise<void> }> {
    const client = await RegistryClient.connect(ref.registry, opts);
    return { repo: new RemoteRepository(client, ref.repository), close: () => client.close() };
  }

  get where(): string {
    return `${this.client.registry}/${this.name}`;
  }

  pullScope(): string[] {
    return [`repository:${this.name}:pull`];
  }

  pushScope(): string[] {
    return [`repository:${this.name}:pull,push`];
  }

  private async expect(res: Response, ok: number[], what: string): Promise<Response> {
    if (ok.includes(res.status)) return res;
    throw await registryFailure(this.client.registry, res, `${this.name}: ${what}`);
  }

  private location(res: Response, what: string): string {
    const location = res.headers.get("location");
    if (!location) throw new StrataError("REGISTRY", `${this.where}: ${what}: answer has no Location header`);
    return this.client.resolve(location);
  }

  async hasBlob(digest: string): Promise<boolean> {
    const what = `check blob ${digest}`;
    const res = await this.client.once({
      method: "HEAD",
      url: `/v2/${this.name}/blobs/${digest}`,
      scopes: this.pushScope(),
      what,
    });
    await res.body?.cancel();
    if (res.status === 404) return false;
    await this.expect(res, [200], what);
    return true;
  }

  /** Asks the registry to link a blob from `from` (same registry); it may start an upload instead. */
  async mountBlob(digest: string, from: string): Promise<MountResult> {
    const what = `mount ${digest} from ${from}`;
    const query = new URLSearchParams({ mount: digest, from });
    const res = await this.client.once({
      method: "POST",
      url: `/v2/${this.name}/blobs/uploads/?${query}`,
      scopes: [...this.pushScope(), `repository:${from}:pull`],
      headers: { "content-length": "0" },
      what,
    });
    await res.body?.cancel();
    if (res.status === 201) return { mounted: true };
    await this.expect(res, [202], what);
    return { mounted: false, location: this.location(res, what) };
  }

  async startUpload(digest: string): Promise<string> {
    const what = `start upload of ${digest}`;
    const res = await this.client.once({
      method: "POST",
      url: `/v2/${this.name}/blobs/uploads/`,
      scopes: this.pushScope(),
      headers: { "content-length": "0" },
      what,
    });
    await res.body?.cancel();
    await this.expect(res, [202], what);
    return this.location(res, what);
  }

  /** Sends bytes `start`… of a chunked upload; returns the Location for the next request. */
  async uploadChunk(location: string, digest: string, start: number, chunk: Buffer): Promise<string> {
    const what = `upload chunk of ${digest} at ${start}`;
    const res = await this.client.once({
      method: "PATCH",
      url: location,
      scopes: this.pushScope(),
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(chunk.length),
        "content-range": `${start}-${start + chunk.length - 1}`,
      },
      body: () => chunk,
      what,
    });
    await res.body?.cancel();
    await this.expect(res, [202], what);
    return this.location(res, what);
  }

  /** Closes an upload with `PUT ?digest=`, sending `body` (the whole blob) or nothing after chunks. */
  async finishUpload(
    location: string,
    digest: string,
    body?: { size: number; open: () => Promise<Readable> },
  ) {
    const what = `finish upload of ${digest}`;
    const url = new URL(location);
    url.searchParams.set("digest", digest);
    const res = await this.client.once({
      method: "PUT",
      url: url.toString(),
      scopes: this.pushScope(),
      headers: { "content-type": "application/octet-stream", "content-length": String(body?.size ?? 0) },
      body: body?.open,
      what,
    });
    await res.body?.cancel();
    await this.expect(res, [201, 204], what);
  }

  /** PUTs a manifest or index under a tag or digest; returns the digest the registry reports, if any. */
  async putManifest(reference: string, mediaType: string, bytes: Buffer): Promise<string | undefined> {
    const what = `put manifest ${reference}`;
    const res = await this.client.once({
      method: "PUT",
      url: `/v2/${this.name}/manifests/${reference}`,
      scopes: this.pushScope(),
      headers: { "content-type": mediaType, "content-length": String(bytes.length) },
      body: () => bytes,
      what,
    });
    await res.body?.cancel();
    await this.expect(res, [201, 202, 204], what);
    return this.reportedDigest(res, what);
  }

  /** The answer's Docker-Content-Digest, if any; a malformed one is a REGISTRY error. */
  private reportedDigest(res: Response, what: string): string | undefined {
    const digest = res.headers.get("docker-content-digest") ?? undefined;
    if (digest !== undefined)
      checkedDigestHex(digest, `${this.where}: ${what}: Docker-Content-Digest`, "REGISTRY");
    return digest;
  }

  /**
   * GETs a manifest or index, at most `maxBytes` long (its descriptor's size when known); undefined
   * when the registry has none under `reference`.
   */
  async getManifest(
    reference: string,
    maxBytes = MAX_ANSWER_BYTES,
  ): Promise<{ bytes: Buffer; contentType?: string; digest?: string } | undefined> {
    const what = `get manifest ${reference}`;
    const res = await this.client.once({
      method: "GET",
      url: `/v2/${this.name}/manifests/${reference}`,
      scopes: this.pullScope(),
      headers: { accept: MANIFEST_ACCEPT },
      what,
      maxBytes,
    });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    await this.expect(res, [200], what);
    return {
      bytes: Buffer.from(await res.arrayBuffer()),
      contentType: res.headers.get("content-type")?.split(";")[0].trim(),
      digest: this.reportedDigest(res, what),
    };
  }

  /** GETs a blob of `size` bytes (no more are read), following the redirects registries use for storage. */
  async getBlob(digest: string, size: number): Promise<Response> {
    const what = `get blob ${digest}`;
    const res = await this.client.once({
      method: "GET",
      url: `/v2/${this.name}/blobs/${digest}`,
      scopes: this.pullScope(),
      what,
      maxBytes: size,
    });
    if (res.status === 404) {
      await res.body?.cancel();
      throw new MissingBlobError("REGISTRY", `${this.where}: ${what}: 404, the repository has no such blob`);
    }
    return this.expect(res, [200], what);
  }
}
