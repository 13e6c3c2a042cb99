import type { Readable } from "node:stream";
import { type Artifact, artifactImages, type Image, imageDescriptor } from "../oci/image.js";
import { readLocation } from "../oci/locations/locations.js";
import { platformText } from "../oci/platform.js";
import { parseReference } from "../oci/reference.js";
import { RegistryClient, type RegistryClientOptions } from "../oci/registry/client.js";
import { mapLimit } from "../util/concurrency.js";
import { StrataError } from "../util/errors.js";
import type { FleetIndex } from "./fleet-index.js";
import { checkRepository, listRepositories, listTags, tagDigest } from "./registry-listing.js";

/**
 * `strata index sync`: every repository (the catalog) and tag of a registry, or of one repository.
 * Only what changed since the last sync is read: each tag's digest (a HEAD) is compared with the
 * one the last sync recorded, and only a tag that moved has its manifests and configs fetched.
 * Each image is stored in its own transaction and each tag recorded once its images are in, so an
 * interrupted sync resumes where it stopped. A tag gone from the registry leaves the index.
 */

export interface SyncTarget {
  registry: string;
  /** One repository; all of the catalog's when absent. */
  repository?: string;
}

export type SyncEvent =
  | { kind: "indexed"; ref: string; platform: string; packages: number; added: boolean; note?: string }
  | { kind: "skipped"; ref: string; why: string }
  | { kind: "failed"; ref: string; error: StrataError }
  | { kind: "removed"; ref: string };

export interface SyncReport {
  registry: string;
  repositories: number;
  tags: number;
  unchanged: number;
  /** Images stored (new manifests, or known ones under a new tag). */
  indexed: number;
  skipped: number;
  failed: number;
  removed: number;
  /** Bytes read from the registry: listings, manifests, configs and any layer read. */
  bytesRead: number;
}

export interface SyncOptions {
  registry?: RegistryClientOptions;
  onEvent?: (event: SyncEvent) => void;
}

/** "host[:port]/repo/path" → registry and repository; a bare host means its whole catalog. */
export function parseSyncTarget(text: string): SyncTarget {
  const slash = text.indexOf("/");
  const registry = slash < 0 ? text : text.slice(0, slash);
  const repository = slash < 0 ? undefined : text.slice(slash + 1).replace(/\/+$/, "") || undefined;
  try {
    parseReference(`${registry}/${repository ?? "probe"}`);
  } catch {
    throw new StrataError("USAGE", `"${text.slice(0, 200)}" is not REGISTRY[/REPOSITORY]`, {
      hint: "name a registry host (127.0.0.1:5000, registry.example.com) and optionally a repository",
    });
  }
  if (repository !== undefined) checkRepository(registry, repository);
  return { registry, repository };
}

/** Counts the bytes of every blob an image's layers stream (a foreign image's new layers). */
function counted(image: Image, counter: { bytes: number }): Image {
  const source = image.blobs;
  const open = async (digest: string, limit?: { maxBytes: number }): Promise<Readable> => {
    const stream = await source.open(digest, limit);
    stream.on("data", (chunk: Buffer) => {
      counter.bytes += chunk.length;
    });
    return stream;
  };
  return { ...image, blobs: { open } };
}

function artifactBytes(artifact: Artifact): number {
  const images = artifactImages(artifact);
  const own = images.reduce((n, i) => n + i.manifestBytes.length + i.configBytes.length, 0);
  return own + (artifact.kind === "index" ? artifact.index.indexBytes.length : 0);
}

/** Errors of one image that say nothing about the registry: the sync goes on to the next. */
const IMAGE_PROBLEMS = new Set(["IO", "UNSAFE_PATH", "HASH_MISMATCH", "SIZE_MISMATCH", "DIGEST_INVALID"]);

/**
 * Indexes every image of one tag that moved. An image that cannot be indexed (no packages, not an
 * image, a layer that is not a tar) is skipped with its reason; anything else (the registry or the
 * database failing) stops the tag, unrecorded, so the next sync tries it again.
 */
async function syncTag(
  index: FleetIndex,
  ctx: { registry: string; repo: string; tag: string; digest: string },
  opts: SyncOptions,
  counter: { bytes: number },
): Promise<"indexed" | "skipped"> {
  const ref = `${ctx.registry}/${ctx.repo}:${ctx.tag}`;
  const text = `${ctx.registry}/${ctx.repo}@${ctx.digest}`;
  const artifact = await readLocation(
    { transport: "docker", ref: parseReference(text), text },
    { registry: opts.registry },
  );
  counter.bytes += artifactBytes(artifact);
  let stored = 0;
  for (const image of artifactImages(artifact)) {
    const where = `${ref} (${platformText(image)})`;
    const refs = [{ registry: ctx.registry, repository: ctx.repo, tag: ctx.tag, topDigest: ctx.digest }];
    try {
      const result = await index.add(counted(image, counter), where, refs, { moveTag: true });
      opts.onEvent?.({
        kind: "indexed",
        ref,
        platform: platformText(image),
        packages: result.packages,
        added: result.added,
        note: result.note,
      });
      stored++;
    } catch (err) {
      if (!(err instanceof StrataError) || !IMAGE_PROBLEMS.has(err.code)) throw err;
      opts.onEvent?.({ kind: "skipped", ref: `${ref}@${imageDescriptor(image).digest}`, why: err.message });
    }
  }
  return stored > 0 ? "indexed" : "skipped";
}

/** Tags read at once: registry round trips overlap; the index writes one image at a time anyway. */
const TAGS_AT_ONCE = 4;

/** Tags the referrers fallback makes (`sha256-<hex>`): indexes of artifacts, not images. */
const REFERRERS_TAG = /^sha256-[0-9a-f]{64}(?:\..*)?$/;

interface RepoContext {
  index: FleetIndex;
  client: RegistryClient;
  registry: string;
  report: SyncReport;
  counter: { bytes: number };
  opts: SyncOptions;
}

/** Syncs one repository's tags; errors of the registry itself (listing, HEAD) end the sync. */
async function syncRepository(c: RepoContext, repo: string): Promise<void> {
  const tags = (await listTags(c.client, repo, c.counter)).filter((t) => !REFERRERS_TAG.test(t));
  const listed = new Set(tags);
  for (const tag of await c.index.syncedTags(c.registry, repo)) {
    if (listed.has(tag)) continue;
    c.report.removed += (await c.index.remove({ ref: { registry: c.registry, repository: repo, tag } })).refs;
    c.opts.onEvent?.({ kind: "removed", ref: `${c.registry}/${repo}:${tag}` });
  }
  await mapLimit(tags, TAGS_AT_ONCE, (tag) => syncOneTag(c, repo, tag));
}

/** One tag: compared with the last sync by a HEAD, read and indexed only when it moved. */
async function syncOneTag(c: RepoContext, repo: string, tag: string): Promise<void> {
  c.report.tags++;
  const digest = await tagDigest(c.client, repo, tag);
  if (digest === undefined) return; // deleted between the listing and now
  if ((await c.index.syncedDigest(c.registry, repo, tag)) === digest) {
    c.report.unchanged++;
    return;
  }
  try {
    const outcome = await syncTag(c.index, { registry: c.registry, repo, tag, digest }, c.opts, c.counter);
    // A tag that moved to something unindexable no longer names what it named.
    if (outcome === "skipped") await c.index.remove({ ref: { registry: c.registry, repository: repo, tag } });
    await c.index.recordSyncedTag(c.registry, repo, tag, digest, outcome);
    if (outcome === "indexed") c.report.indexed++;
    else c.report.skipped++;
  } catch (err) {
    if (!(err instanceof StrataError) || err.code === "DATABASE") throw err;
    c.report.failed++;
    c.opts.onEvent?.({ kind: "failed", ref: `${c.registry}/${repo}:${tag}`, error: err });
  }
}

/** Syncs the index with a registry (or one repository of it). */
export async function syncRegistry(
  index: FleetIndex,
  target: SyncTarget,
  opts: SyncOptions = {},
): Promise<SyncReport> {
  const counter = { bytes: 0 };
  const report: SyncReport = {
    registry: target.registry,
    repositories: 0,
    tags: 0,
    unchanged: 0,
    indexed: 0,
    skipped: 0,
    failed: 0,
    removed: 0,
    bytesRead: 0,
  };
  const client = await RegistryClient.connect(target.registry, opts.registry);
  try {
    const repos = target.repository ? [target.repository] : await listRepositories(client, counter);
    const c: RepoContext = { index, client, registry: target.registry, report, counter, opts };
    for (const repo of repos) {
      report.repositories++;
      await syncRepository(c, repo);
    }
  } finally {
    report.bytesRead = counter.bytes;
    await client.close();
  }
  return report;
}
