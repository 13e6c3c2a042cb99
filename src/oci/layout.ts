import { createReadStream, existsSync } from "node:fs";
import { copyFile, link, mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { ContentStore, verifiedInThisProcess } from "../util/cas.js";
import { mapLimit } from "../util/concurrency.js";
import { type ErrorCode, StrataError } from "../util/errors.js";
import { pathExists, tempPathFor, writeFileAtomic } from "../util/fs.js";
import { sha256File, sha256Hex } from "../util/hash.js";
import { assertDigest, verified } from "../util/verify.js";
import { readRegion } from "./bounded-read.js";
import {
  type Artifact,
  artifactDescriptor,
  artifactImages,
  type BlobSource,
  EMPTY_DESCRIPTOR,
  EMPTY_JSON,
  type Image,
  type ImageIndex,
  jsonBytes,
  MissingBlobError,
} from "./image.js";
import { composeIndex } from "./mutate.js";
import { parseDescriptor, parseImageConfig, parseIndex, parseManifest, sniffMediaType } from "./parse.js";
import { writeOutput } from "./placement.js";
import {
  Annotation,
  type Descriptor,
  digestHex,
  type ImageConfig,
  type Index,
  isIndexMediaType,
  isManifestMediaType,
  type Manifest,
  type Platform,
} from "./types.js";

/**
 * The OCI image layout (image-spec v1.1, image-layout.md) as an image location for artifacts: `oci-layout`,
 * `blobs/sha256/<hex>` and `index.json`, whose entries name artifacts by tag
 * (`org.opencontainers.image.ref.name`). Blobs are written atomically and verified; index.json is
 * written last, so a reader never sees an entry whose blobs are not all in place.
 *
 * This module also holds the two walks every image location shares (the registry and the archives use them):
 * listing an artifact's blobs, and assembling an artifact from manifest bytes.
 */

export const OCI_LAYOUT_FILE = "oci-layout";
export const OCI_LAYOUT_VERSION = "1.0.0";
const BLOB_WRITERS = 4;

// ---------------------------------------------------------------------------------------------
// Walks shared by every image location
// ---------------------------------------------------------------------------------------------

/** A blob of an artifact: manifests, indexes and configs carry their bytes; layers are read from `image.blobs`. */
export interface ArtifactBlob {
  descriptor: Descriptor;
  bytes?: Buffer;
  /** Where a layer's bytes come from (absent when `bytes` is set). */
  source?: BlobSource;
}

/** The configs and layers of every image in an artifact, each digest once, configs first per image. */
export function contentBlobs(artifact: Artifact): ArtifactBlob[] {
  const seen = new Set<string>();
  const out: ArtifactBlob[] = [];
  for (const image of artifactImages(artifact)) {
    const add = (blob: ArtifactBlob) => {
      if (seen.has(blob.descriptor.digest)) return;
      seen.add(blob.descriptor.digest);
      out.push(blob);
    };
    add({ descriptor: image.manifest.config, bytes: image.configBytes });
    for (const layer of image.manifest.layers) add({ descriptor: layer, source: image.blobs });
  }
  return out;
}

/**
 * The artifacts that travel with an artifact's images (Image.attached): their blobs, and the
 * descriptors a layout's index.json names them by.
 */
export function attachedBlobs(artifact: Artifact): { blobs: ArtifactBlob[]; descriptors: Descriptor[] } {
  const referrers = artifactImages(artifact).flatMap((image) => image.attached ?? []);
  return {
    blobs: referrers.flatMap((r) => [
      { descriptor: EMPTY_DESCRIPTOR, bytes: EMPTY_JSON },
      { descriptor: r.payload.descriptor, bytes: r.payload.bytes },
      { descriptor: r.descriptor, bytes: r.manifestBytes },
    ]),
    descriptors: referrers.map((r) => r.descriptor),
  };
}

/** The manifests of an artifact (children before the index that names them), as stored bytes. */
export function manifestBlobs(artifact: Artifact): ArtifactBlob[] {
  const images = artifactImages(artifact).map((image) => ({
    descriptor: descriptorFor(image.manifest.mediaType, image.manifestBytes),
    bytes: image.manifestBytes,
  }));
  if (artifact.kind === "image") return images;
  const index = artifact.index;
  return [
    ...images,
    { descriptor: descriptorFor(index.index.mediaType, index.indexBytes), bytes: index.indexBytes },
  ];
}

function descriptorFor(mediaType: string, bytes: Buffer): Descriptor {
  return { mediaType, digest: `sha256:${sha256Hex(bytes)}`, size: bytes.length };
}

/** The hex a descriptor's digest expects; a digest of another algorithm can never match, so it fails as a mismatch. */
function expectedHex(descriptor: Descriptor): string {
  return descriptor.digest.startsWith("sha256:") ? descriptor.digest.slice(7) : descriptor.digest;
}

/** Throws HASH_MISMATCH / SIZE_MISMATCH unless `bytes` are what `descriptor` names. */
export function checkBytes(descriptor: Descriptor, bytes: Buffer, where: string): void {
  assertDigest(
    `${where}: ${descriptor.digest}`,
    { hex: sha256Hex(bytes), size: bytes.length },
    { hex: expectedHex(descriptor), size: descriptor.size },
  );
}

/** How an image location hands over the small JSON blobs an artifact is assembled from. */
export interface ManifestReader {
  /** Where the bytes come from, for error messages ("oci:/tmp/out", "127.0.0.1:5000/app"). */
  where: string;
  /** The error code for a malformed manifest, index or config (default IO; a registry's is REGISTRY). */
  invalidCode?: ErrorCode;
  manifest(descriptor: Descriptor): Promise<Buffer>;
  config(descriptor: Descriptor): Promise<Buffer>;
}

async function assembleImage(
  descriptor: Descriptor,
  manifestBytes: Buffer,
  reader: ManifestReader,
  blobs: BlobSource,
): Promise<Image> {
  checkBytes(descriptor, manifestBytes, reader.where);
  const where = `${reader.where}: ${descriptor.digest}`;
  const manifest = parseManifest(manifestBytes, where, descriptor.mediaType, reader.invalidCode);
  refuseNonImage(manifest, where);
  const configBytes = await reader.config(manifest.config);
  checkBytes(manifest.config, configBytes, reader.where);
  const config = parseImageConfig(
    configBytes,
    `${reader.where}: ${manifest.config.digest}`,
    reader.invalidCode,
  );
  return { manifest, manifestBytes, config, configBytes, blobs };
}

/** An OCI 1.1 artifact (an SBOM, a signature) has a manifest too, but no image config: say so plainly. */
function refuseNonImage(manifest: Manifest, where: string): void {
  const type = manifest.config.mediaType;
  if (manifest.artifactType === undefined && /image|container/.test(type)) return;
  const kind = manifest.artifactType ?? type;
  throw new StrataError("IO", `${where}: the manifest is not an image but an artifact of type ${kind}`, {
    hint: "name an image (a tag or digest of an image manifest or index), not an artifact attached to one",
  });
}

/**
 * Builds an artifact from its top manifest or index bytes, fetching child manifests and configs
 * through `reader` (each checked against its descriptor) and leaving layers to `blobs`, which is
 * only read when someone wants the bytes.
 */
export async function assembleArtifact(
  top: Descriptor,
  topBytes: Buffer,
  reader: ManifestReader,
  blobs: BlobSource,
): Promise<Artifact> {
  parseDescriptor(top, reader.where, reader.invalidCode);
  checkBytes(top, topBytes, reader.where);
  if (!isIndexMediaType(sniffMediaType(topBytes, top.mediaType))) {
    return { kind: "image", image: await assembleImage(top, topBytes, reader, blobs) };
  }
  const index = parseIndex(topBytes, `${reader.where}: ${top.digest}`, top.mediaType, reader.invalidCode);
  const images: Image[] = [];
  for (const child of index.manifests) {
    if (!isManifestMediaType(child.mediaType)) {
      throw new StrataError(
        "IO",
        `${reader.where}: index ${top.digest} names ${child.digest} of type ${child.mediaType}; only image manifests are supported in an index`,
      );
    }
    images.push(await assembleImage(child, await reader.manifest(child), reader, blobs));
  }
  const imageIndex: ImageIndex = { index, indexBytes: topBytes, images };
  return { kind: "index", index: imageIndex };
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

export interface WriteLayoutOptions {
  /** Stored as `org.opencontainers.image.ref.name` on the index.json entry. */
  tag?: string;
  /**
   * Run on the layout before it is in place (a build attaches its SBOMs and VEX there), so the
   * layout appears whole with them, or not at all.
   */
  complete?: (dir: string) => Promise<void>;
  /** Replace an existing OCI layout at `dir` (never a directory that is not an OCI layout). */
  force?: boolean;
  /**
   * Add the artifact to an existing layout (or create one): blobs already there are reused, and an
   * entry with the same tag is replaced while other entries stay.
   */
  append?: boolean;
}

async function isLayoutDir(dir: string): Promise<boolean> {
  return pathExists(join(dir, OCI_LAYOUT_FILE));
}

/** A non-empty directory that is not an OCI layout is never written over, even with --force. */
async function refuseForeignDirectory(dir: string): Promise<void> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  if (entries.length > 0 && !(await isLayoutDir(dir))) {
    throw new StrataError(
      "OUTPUT_EXISTS",
      `${dir} is not empty and is not an OCI layout; refusing to write into it`,
      { hint: "choose a new or empty directory for the OCI layout" },
    );
  }
}

/** Places a layer blob from a local file by hardlink (else copy), verifying the bytes before they appear. */
async function placeFromFile(source: string, target: string, descriptor: Descriptor): Promise<void> {
  const tmp = tempPathFor(target);
  try {
    try {
      await link(source, tmp);
    } catch {
      await copyFile(source, tmp);
    }
    // A cache blob this process has just hashed to this digest (a build's layers) is not read twice,
    // if what was linked is that very file (not one swapped in, not a copy).
    const got =
      (await verifiedInThisProcess(source, expectedHex(descriptor), tmp)) ?? (await sha256File(tmp));
    assertDigest(`${source} (${descriptor.digest})`, got, {
      hex: expectedHex(descriptor),
      size: descriptor.size,
    });
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function putBlob(store: ContentStore, blob: ArtifactBlob): Promise<void> {
  const { descriptor } = blob;
  const hex = digestHex(descriptor.digest);
  if (await store.has(hex, { verify: true, size: descriptor.size })) return;
  if (blob.bytes !== undefined) {
    checkBytes(descriptor, blob.bytes, "writing layout");
    await writeFileAtomic(store.path(hex), blob.bytes);
    return;
  }
  const source = blob.source!;
  const local = source.localPath?.(descriptor.digest);
  if (local !== undefined) {
    await placeFromFile(local, store.path(hex), descriptor);
    return;
  }
  await store.putVerified(await source.open(descriptor.digest), hex, { expectSize: descriptor.size });
}

function platformOf(config: ImageConfig): Platform {
  const platform: Platform = { architecture: config.architecture, os: config.os };
  if (config.variant) platform.variant = config.variant;
  return platform;
}

/** The index.json entry naming `artifact`, with its tag as `org.opencontainers.image.ref.name`. */
export function layoutEntry(artifact: Artifact, tag?: string): Descriptor {
  const entry: Descriptor = artifactDescriptor(artifact);
  if (artifact.kind === "image") entry.platform = platformOf(artifact.image.config);
  if (tag !== undefined) entry.annotations = { [Annotation.refName]: tag };
  return entry;
}

/** The bytes of an index.json holding `entries`. */
export function layoutIndexBytes(entries: Descriptor[]): Buffer {
  return composeIndex(entries).indexBytes;
}

/** The bytes of the `oci-layout` file. */
export const OCI_LAYOUT_BYTES: Buffer = jsonBytes({ imageLayoutVersion: OCI_LAYOUT_VERSION });

async function readIndexJson(dir: string): Promise<Index> {
  const path = join(dir, "index.json");
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new StrataError("IO", `${dir}: cannot read index.json (${err.code ?? err.message})`);
  });
  const bytes = await readRegion(path, { offset: 0, size: info.size }, undefined, `${dir}: index.json`);
  return parseIndex(bytes, path);
}

/** Fills the layout at `dir` with `artifact` and an index.json of `previous` entries plus its own, written last. */
async function fillLayout(
  dir: string,
  artifact: Artifact,
  tag: string | undefined,
  previous: Descriptor[],
): Promise<Descriptor> {
  const attached = attachedBlobs(artifact);
  const store = new ContentStore(join(dir, "blobs"));
  await mkdir(join(dir, "blobs", "sha256"), { recursive: true });
  if (!(await isLayoutDir(dir))) await writeFileAtomic(join(dir, OCI_LAYOUT_FILE), OCI_LAYOUT_BYTES);

  await mapLimit(contentBlobs(artifact), BLOB_WRITERS, (blob) => putBlob(store, blob));
  for (const blob of [...manifestBlobs(artifact), ...attached.blobs]) await putBlob(store, blob);

  const entry = layoutEntry(artifact, tag);
  const attachedDigests = new Set(attached.descriptors.map((d) => d.digest));
  const kept = previous.filter((d) => {
    if (attachedDigests.has(d.digest)) return false;
    const name = d.annotations?.[Annotation.refName];
    if (tag !== undefined) return name !== tag;
    return !(name === undefined && d.digest === entry.digest);
  });
  await writeFileAtomic(join(dir, "index.json"), layoutIndexBytes([...kept, entry, ...attached.descriptors]));
  return entry;
}

/**
 * Writes `artifact` as the OCI layout at `dir` and returns the index.json entry that names it. The
 * layout is made in a temp sibling and renamed into place (see placement.ts); an existing layout is
 * replaced only with `force`. With `append`, an existing layout is added to in place instead: its
 * index.json is rewritten last and atomically, so it never names a blob that is not there.
 */
export async function writeLayout(
  dir: string,
  artifact: Artifact,
  opts: WriteLayoutOptions = {},
): Promise<Descriptor> {
  if (opts.append && (await isLayoutDir(dir))) {
    const appended = await fillLayout(dir, artifact, opts.tag, (await readIndexJson(dir)).manifests);
    await opts.complete?.(dir);
    return appended;
  }
  await refuseForeignDirectory(dir);
  let entry: Descriptor | undefined;
  await writeOutput(dir, { kind: "directory", force: opts.force }, async (tmp) => {
    entry = await fillLayout(tmp, artifact, opts.tag, []);
    await opts.complete?.(tmp);
  });
  return entry!;
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/** Reads blobs from a layout's `blobs/sha256`, verifying each one that is read to its end. */
export class LayoutBlobSource implements BlobSource {
  constructor(readonly dir: string) {}

  private path(digest: string): string {
    return join(this.dir, "blobs", "sha256", digestHex(digest));
  }

  async open(digest: string): Promise<Readable> {
    const path = this.path(digest);
    await stat(path).catch((err: NodeJS.ErrnoException) => {
      const message = `${this.dir}: blob ${digest} is missing from the layout`;
      if (err.code === "ENOENT") throw new MissingBlobError("IO", message);
      throw new StrataError("IO", `${message} (${err.code ?? err.message})`);
    });
    const what = `${this.dir}: blob ${digest}`;
    return verified(createReadStream(path, { highWaterMark: 1 << 20 }), digestHex(digest), { what });
  }

  localPath(digest: string): string | undefined {
    const path = this.path(digest);
    return existsSync(path) ? path : undefined;
  }

  /** A manifest or config: its size is checked against the descriptor and the cap before it is read. */
  async readSmall(descriptor: Descriptor): Promise<Buffer> {
    const path = this.path(descriptor.digest);
    const info = await stat(path).catch(() => {
      throw new StrataError("IO", `${this.dir}: blob ${descriptor.digest} is missing from the layout`);
    });
    const what = `${this.dir}: blob ${descriptor.digest}`;
    return readRegion(path, { offset: 0, size: info.size }, descriptor, what);
  }
}

/** Picks the index.json entry named by `ref` (a tag or a digest), or the only entry. */
export function selectEntry(entries: Descriptor[], ref: string | undefined, where: string): Descriptor {
  const names = entries
    .map((d) => d.annotations?.[Annotation.refName])
    .filter((n): n is string => n !== undefined);
  if (ref === undefined) {
    // Artifacts attached to an image (SBOMs: entries with an artifactType) are not what a bare name means.
    const images = entries.filter((d) => d.artifactType === undefined);
    if (images.length === 1) return images[0];
    throw new StrataError(
      "USAGE",
      `${where} holds ${entries.length} entries; name one${names.length > 0 ? ` (tags: ${names.join(", ")})` : ""}`,
      { hint: "pass a tag or a sha256 digest" },
    );
  }
  const refOf = (d: Descriptor) => d.annotations?.[Annotation.refName];
  // An archive strata named NAME:TAG (so podman loads it by that name) is found by TAG too.
  const byTag = entries.filter((d) => refOf(d)?.endsWith(`:${ref}`));
  const byRef = ref.startsWith("sha256:")
    ? entries.find((d) => d.digest === ref)
    : (entries.find((d) => refOf(d) === ref) ?? (byTag.length === 1 ? byTag[0] : undefined));
  if (byRef === undefined) {
    throw new StrataError(
      "USAGE",
      `${where} has no entry "${ref}"${names.length > 0 ? ` (tags: ${names.join(", ")})` : " (it has no tags)"}`,
    );
  }
  return byRef;
}

/** The entries of a layout's index.json: what `readLayout` can be asked for. */
export async function listLayout(dir: string): Promise<Descriptor[]> {
  if (!(await isLayoutDir(dir))) {
    throw new StrataError("USAGE", `${dir} is not an OCI image layout (no ${OCI_LAYOUT_FILE} file)`);
  }
  return (await readIndexJson(dir)).manifests;
}

/** Reads the artifact named by `ref` (tag or digest; default: the only entry) from the layout at `dir`. */
export async function readLayout(dir: string, ref?: string): Promise<Artifact> {
  const entry = selectEntry(await listLayout(dir), ref, dir);
  const blobs = new LayoutBlobSource(dir);
  const reader: ManifestReader = {
    where: dir,
    manifest: (d) => blobs.readSmall(d),
    config: (d) => blobs.readSmall(d),
  };
  return assembleArtifact(entry, await blobs.readSmall(entry), reader, blobs);
}
