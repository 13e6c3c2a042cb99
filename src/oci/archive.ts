import { createReadStream, createWriteStream } from "node:fs";
import { open } from "node:fs/promises";
import { Readable } from "node:stream";
import { StrataError } from "../util/errors.js";
import { verified } from "../util/verify.js";
import { readRegion } from "./bounded-read.js";
import { type Artifact, type BlobSource, type Image, jsonBytes, MissingBlobError } from "./image.js";
import {
  type ArtifactBlob,
  assembleArtifact,
  attachedBlobs,
  contentBlobs,
  layoutEntry,
  layoutIndexBytes,
  type ManifestReader,
  manifestBlobs,
  OCI_LAYOUT_BYTES,
  OCI_LAYOUT_FILE,
  selectEntry,
} from "./layout.js";
import { parseIndex } from "./parse.js";
import { writeOutput } from "./placement.js";
import { parseReference } from "./reference.js";
import { TarWriter } from "./tar.js";
import { type Descriptor, digestHex } from "./types.js";

/**
 * Artifacts as single files, written with the shared deterministic tar writer (sorted paths, one
 * fixed mtime, owner 0:0), atomically (temp file, then rename):
 *
 * - oci-archive: a tar of an OCI image layout (what `skopeo copy … oci-archive:` reads).
 * - docker-archive: the `docker save` format as Docker 25+ writes it — `manifest.json` with Config,
 *   RepoTags and Layers pointing at `blobs/sha256/<hex>` — read by `docker load`, `podman load` and
 *   `skopeo … docker-archive:`. Layers stay compressed as in the image; those readers detect it.
 *   It holds one image: for an index, the caller picks the platform first. It keeps no manifest,
 *   so neither the image's annotations nor the artifacts attached to it (a strata record): an
 *   image read back from one is not one strata can rebuild from its record.
 */

export interface ArchiveOptions {
  /** The mtime of every entry, in seconds; default SOURCE_DATE_EPOCH, else 0. */
  mtime?: number;
  /** Replace an existing file (only once the new archive is complete). */
  force?: boolean;
}

function archiveMtime(opts: ArchiveOptions): number {
  if (opts.mtime !== undefined) return opts.mtime;
  const fromEnv = Number(process.env.SOURCE_DATE_EPOCH);
  return Number.isSafeInteger(fromEnv) && fromEnv >= 0 ? fromEnv : 0;
}

/** A file of the archive: bytes in hand, or a blob opened (and verified) when it is written. */
interface ArchiveFile {
  path: string;
  bytes?: Buffer;
  blob?: ArtifactBlob;
}

function blobFile(blob: ArtifactBlob): ArchiveFile {
  return { path: `blobs/sha256/${digestHex(blob.descriptor.digest)}`, blob };
}

async function fileBody(file: ArchiveFile): Promise<{ size: number; body: Buffer | Readable }> {
  if (file.bytes !== undefined) return { size: file.bytes.length, body: file.bytes };
  const blob = file.blob!;
  if (blob.bytes !== undefined) return { size: blob.bytes.length, body: blob.bytes };
  const { digest, size } = blob.descriptor;
  const stream = await blob.source!.open(digest);
  return { size, body: verified(stream, digestHex(digest), { size, what: `blob ${digest}` }) };
}

/** Writes `files` (and the directories above them) as a tar at `target`, all at once or not at all. */
async function writeTarOutput(target: string, files: ArchiveFile[], opts: ArchiveOptions): Promise<void> {
  const byPath = new Map(files.map((f) => [f.path, f]));
  const dirs = new Set<string>();
  for (const path of byPath.keys()) {
    for (let cut = path.indexOf("/"); cut > 0; cut = path.indexOf("/", cut + 1))
      dirs.add(path.slice(0, cut + 1));
  }
  const paths = [...dirs, ...byPath.keys()].sort();
  const mtime = archiveMtime(opts);
  await writeOutput(target, { kind: "file", force: opts.force }, async (tmp) => {
    const out = createWriteStream(tmp, { mode: 0o644 });
    const tar = new TarWriter(out);
    try {
      for (const path of paths) {
        const file = byPath.get(path);
        if (file === undefined) {
          await tar.entry({ path, type: "dir", mode: 0o755, uid: 0, gid: 0, mtime });
          continue;
        }
        const { size, body } = await fileBody(file);
        await tar.entry({ path, type: "file", mode: 0o644, uid: 0, gid: 0, mtime, size }, body);
      }
      await tar.end();
    } catch (err) {
      // Closed before the caller removes the temp file: a stream still opening would create it again.
      // Not events.once: it rejects on the 'error' a write still queued raises when destroyed
      // (ERR_STREAM_DESTROYED), which would replace the failure that matters with a stack trace.
      const closed = out.closed
        ? undefined
        : new Promise<void>((resolve) => out.once("close", () => resolve()));
      out.destroy();
      await closed;
      throw err;
    }
  });
}

/**
 * Writes `artifact` as an oci-archive: a tar of an OCI layout whose index.json names it by `tag`,
 * with the blobs of what travels with its images (their records), read by digest.
 */
export async function writeOciArchive(
  file: string,
  artifact: Artifact,
  opts: ArchiveOptions & { tag?: string } = {},
): Promise<Descriptor> {
  const entry = layoutEntry(artifact, opts.tag);
  const attached = attachedBlobs(artifact);
  const blobs = [...contentBlobs(artifact), ...manifestBlobs(artifact), ...attached.blobs];
  const unique = new Map(blobs.map((b) => [b.descriptor.digest, b]));
  await writeTarOutput(
    file,
    [
      ...[...unique.values()].map(blobFile),
      // The attached artifacts' blobs travel in it, but index.json names the image alone: tools
      // given a bare oci-archive: (skopeo, podman) refuse an index.json of more than one manifest.
      { path: "index.json", bytes: layoutIndexBytes([entry]) },
      { path: OCI_LAYOUT_FILE, bytes: OCI_LAYOUT_BYTES },
    ],
    opts,
  );
  return entry;
}

/**
 * Writes one image in the `docker save` format. `repoTags` are names as `docker load` shows them
 * ("registry/app:tag"); each must parse as a reference with a tag and without a digest.
 */
export async function writeDockerArchive(
  file: string,
  image: Image,
  opts: ArchiveOptions & { repoTags?: string[] } = {},
): Promise<void> {
  const repoTags = opts.repoTags ?? [];
  for (const name of repoTags) {
    const ref = parseReference(name);
    if (ref.digest !== undefined || !/:[^/]+$/.test(name)) {
      throw new StrataError("USAGE", `docker archive tag "${name}" must be name:tag, without a digest`);
    }
  }
  const blobs = contentBlobs({ kind: "image", image });
  const manifest = [
    {
      Config: blobFile(blobs[0]).path,
      RepoTags: repoTags,
      Layers: image.manifest.layers.map((l) => `blobs/sha256/${digestHex(l.digest)}`),
    },
  ];
  await writeTarOutput(
    file,
    [...blobs.map(blobFile), { path: "manifest.json", bytes: jsonBytes(manifest) }],
    opts,
  );
}

// ---------------------------------------------------------------------------------------------
// Reading an oci-archive in place: index the tar once, then read members by offset.
// ---------------------------------------------------------------------------------------------

export interface Member {
  offset: number;
  size: number;
}

function tarString(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString("utf8");
}

function tarNumber(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if (field[0] & 0x80) {
    // GNU base-256: big-endian, the top bit of the first byte is the flag.
    let n = field[0] & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i];
    return n;
  }
  const text = tarString(block, start, length).trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

/** PAX records and GNU long names are a few hundred bytes; a larger one is not read. */
const MAX_HEADER_DATA = 1 << 20;

function crafted(file: string, why: string): StrataError {
  return new StrataError("IO", `${file}: not a well-formed tar: ${why}`, {
    hint: "the archive is damaged or was crafted; write it again (strata build --format oci-archive)",
  });
}

/** The `path` and `size` of PAX records ("<length> <key>=<value>\n" each); other keys are ignored. */
function paxRecords(data: Buffer, file: string): { path?: string; size?: number } {
  const out: { path?: string; size?: number } = {};
  for (let at = 0; at < data.length && data[at] !== 0; ) {
    const space = data.indexOf(0x20, at);
    const length = Number(data.subarray(at, space < 0 ? at : space).toString("latin1"));
    if (space < 0 || !Number.isSafeInteger(length) || length <= space - at || at + length > data.length) {
      throw crafted(file, "a PAX record has a bad length");
    }
    const record = data.subarray(space + 1, at + length - 1).toString("utf8");
    const eq = record.indexOf("=");
    const [key, value] = [record.slice(0, eq), record.slice(eq + 1)];
    if (key === "path") out.path = value;
    if (key === "size") {
      if (!/^\d{1,16}$/.test(value)) throw crafted(file, `a PAX size of "${value.slice(0, 20)}"`);
      out.size = Number(value);
    }
    at += length;
  }
  return out;
}

/** One ustar header block: its type, name, declared size and where its body starts (judged by checkBody). */
function headerMember(block: Buffer, pos: number) {
  const type = String.fromCharCode(block[156] || 0x30);
  const size = tarNumber(block, 124, 12);
  const prefix = tarString(block, 257, 6) === "ustar" ? tarString(block, 345, 155) : "";
  const name = prefix ? `${prefix}/${tarString(block, 0, 100)}` : tarString(block, 0, 100);
  return { type, name, size, body: pos + 512 };
}

/** Refuses a member whose body would run past the end of the file, before anything is read or allocated. */
function checkBody(body: number, size: number, fileSize: number, file: string, name: string): void {
  if (Number.isNaN(size)) throw crafted(file, "a header has no size: this is not a tar archive");
  if (!Number.isSafeInteger(size) || size < 0 || body + size > fileSize) {
    throw crafted(
      file,
      `${JSON.stringify(name.slice(0, 100))} claims ${size} bytes, more than the file holds`,
    );
  }
}

/** Maps each regular file's path (without "./") to where its bytes lie in the tar. */
export async function indexTar(file: string): Promise<Map<string, Member>> {
  const members = new Map<string, Member>();
  const fh = await open(file, "r");
  try {
    const fileSize = (await fh.stat()).size;
    const block = Buffer.alloc(512);
    let pos = 0;
    let extended: { path?: string; size?: number } = {};
    while ((await fh.read(block, 0, 512, pos)).bytesRead === 512 && block.some((b) => b !== 0)) {
      const h = headerMember(block, pos);
      const isExtension = h.type === "x" || h.type === "L" || h.type === "g";
      const size = isExtension ? h.size : (extended.size ?? h.size);
      checkBody(h.body, size, fileSize, file, h.name);
      pos = h.body + Math.ceil(size / 512) * 512;
      if (isExtension) {
        if (h.type === "g") continue;
        if (size > MAX_HEADER_DATA) throw crafted(file, `an extended header of ${size} bytes`);
        const data = Buffer.alloc(size);
        await fh.read(data, 0, size, h.body);
        extended = {
          ...extended,
          ...(h.type === "L" ? { path: tarString(data, 0, size) } : paxRecords(data, file)),
        };
        continue;
      }
      const name = extended.path ?? h.name;
      extended = {};
      if (h.type === "0" || h.type === "7") members.set(name.replace(/^\.\//, ""), { offset: h.body, size });
    }
  } finally {
    await fh.close();
  }
  return members;
}

/** Blobs of an oci-archive, read straight from the tar and verified. */
class ArchiveBlobSource implements BlobSource {
  constructor(
    readonly file: string,
    private readonly members: Map<string, Member>,
  ) {}

  member(digest: string): Member {
    const member = this.members.get(`blobs/sha256/${digestHex(digest)}`);
    if (member === undefined)
      throw new MissingBlobError("IO", `${this.file}: blob ${digest} is missing from the archive`);
    return member;
  }

  async open(digest: string): Promise<Readable> {
    const { offset, size } = this.member(digest);
    const stream =
      size === 0 ? Readable.from([]) : createReadStream(this.file, { start: offset, end: offset + size - 1 });
    return verified(stream, digestHex(digest), { size, what: `${this.file}: blob ${digest}` });
  }

  /** A manifest or config: its size is checked against the descriptor and the cap before it is read. */
  readSmall(descriptor: Descriptor): Promise<Buffer> {
    const what = `${this.file}: blob ${descriptor.digest}`;
    return readRegion(this.file, this.member(descriptor.digest), descriptor, what);
  }
}

/** Reads the artifact named by `ref` (tag or digest; default: the only entry) from an oci-archive. */
export async function readOciArchive(file: string, ref?: string): Promise<Artifact> {
  const members = await indexTar(file);
  const blobs = new ArchiveBlobSource(file, members);
  const indexMember = members.get("index.json");
  if (indexMember === undefined || !members.has(OCI_LAYOUT_FILE)) {
    throw new StrataError("USAGE", `${file} is not an oci-archive (no index.json / oci-layout in it)`);
  }
  const index = parseIndex(
    await readRegion(file, indexMember, undefined, `${file}: index.json`),
    `${file}: index.json`,
  );
  const entry = selectEntry(index.manifests, ref, file);
  const reader: ManifestReader = {
    where: file,
    manifest: (d) => blobs.readSmall(d),
    config: (d) => blobs.readSmall(d),
  };
  return assembleArtifact(entry, await blobs.readSmall(entry), reader, blobs);
}
