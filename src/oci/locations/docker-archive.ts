import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import { StrataError } from "../../util/errors.js";
import { Digester } from "../../util/hash.js";
import { verified } from "../../util/verify.js";
import { z } from "../../util/zod.js";
import { indexTar, type Member } from "../archive.js";
import { readRegion } from "../bounded-read.js";
import { type BlobSource, descriptorOf, type Image } from "../image.js";
import { composeManifest } from "../mutate.js";
import { parseImageConfig } from "../parse.js";
import { parseReference } from "../reference.js";
import { type Descriptor, digestHex, MediaType } from "../types.js";

/**
 * Reads a `docker save` / `podman save` archive: `manifest.json` names, per image, a config file and
 * layer files (`blobs/sha256/<hex>` from Docker 25 on, `<id>/layer.tar` or `<hex>.tar` before, often
 * uncompressed). Nothing in it is trusted: every name must be a member of the tar, the config is
 * size-capped and parsed like any other, and each layer is hashed once here to give it a digest,
 * which must match its name when the name is a digest and its diff ID when it is uncompressed. The
 * image is returned as an OCI manifest of those layers.
 */

const MAX_IMAGES = 256;
const memberPath = z
  .string()
  .max(4096)
  .refine(
    (p) => !p.startsWith("/") && !p.split("/").includes(".."),
    "must be a relative path inside the archive",
  );
const dockerManifest = z
  .array(
    z.looseObject({
      Config: memberPath,
      RepoTags: z.array(z.string().max(1024)).max(1024).nullish(),
      Layers: z.array(memberPath).max(1024),
    }),
  )
  .min(1)
  .max(MAX_IMAGES);
type DockerEntry = z.infer<typeof dockerManifest>[number];

function malformed(file: string, why: string): StrataError {
  return new StrataError("IO", `${file}: not a well-formed docker-archive: ${why}`, {
    hint: "write it again (docker save, podman save or strata build --format docker-archive)",
  });
}

/** The digest a member name claims, when it is one (`blobs/sha256/<hex>`, `<hex>.json`, `<hex>.tar`). */
function claimedHex(path: string): string | undefined {
  return /^(?:blobs\/sha256\/([a-f0-9]{64})|([a-f0-9]{64})\.(?:json|tar))$/
    .exec(path)
    ?.slice(1)
    .find(Boolean);
}

function checkClaim(file: string, path: string, hex: string): void {
  const claimed = claimedHex(path);
  if (claimed !== undefined && claimed !== hex) {
    throw new StrataError("HASH_MISMATCH", `${file}: ${path} hashes to sha256:${hex}`);
  }
}

/** What a layer's first bytes say it is: gzip, zstd, else a plain tar. */
function layerMediaType(head: Buffer): string {
  if (head[0] === 0x1f && head[1] === 0x8b) return MediaType.ociLayerGzip;
  if (head.readUInt32LE(0) === 0xfd2fb528) return MediaType.ociLayerZstd;
  return MediaType.ociLayerTar;
}

function openMember(file: string, { offset, size }: Member): Readable {
  return size === 0 ? Readable.from([]) : createReadStream(file, { start: offset, end: offset + size - 1 });
}

/** Hashes a layer member (streamed) and reads its first bytes for its compression. */
async function layerDescriptor(file: string, member: Member): Promise<Descriptor> {
  const digester = new Digester();
  const head = Buffer.alloc(4);
  for await (const chunk of openMember(file, member)) {
    if (digester.size < head.length) (chunk as Buffer).copy(head, digester.size);
    digester.update(chunk as Buffer);
  }
  return { mediaType: layerMediaType(head), digest: `sha256:${digester.hex()}`, size: member.size };
}

/** Blobs of a docker-archive: each digest maps to the member that holds it, read in place and verified. */
class DockerArchiveBlobs implements BlobSource {
  readonly members = new Map<string, Member>();

  constructor(readonly file: string) {}

  async open(digest: string): Promise<Readable> {
    const member = this.members.get(digest);
    if (member === undefined) throw new StrataError("IO", `${this.file}: no blob ${digest} in the archive`);
    return verified(openMember(this.file, member), digestHex(digest), {
      size: member.size,
      what: `${this.file}: blob ${digest}`,
    });
  }
}

/** Whether an entry's RepoTags hold `name` (as written, or as the same normalised reference). */
function hasTag(entry: DockerEntry, name: string): boolean {
  const canonical = (text: string) => {
    try {
      const ref = parseReference(text);
      return `${ref.registry}/${ref.repository}:${ref.tag}`;
    } catch {
      return undefined;
    }
  };
  const want = canonical(name);
  return (entry.RepoTags ?? []).some(
    (tag) => tag === name || (want !== undefined && canonical(tag) === want),
  );
}

function chooseEntry(file: string, entries: DockerEntry[], name: string | undefined): DockerEntry {
  const tags = entries.flatMap((e) => e.RepoTags ?? []).join(", ") || "none";
  if (name === undefined) {
    if (entries.length === 1) return entries[0];
    throw new StrataError("USAGE", `${file} holds ${entries.length} images; name one (tags: ${tags})`, {
      hint: `write docker-archive:${file}:NAME:TAG`,
    });
  }
  const found = entries.find((e) => hasTag(e, name));
  if (found === undefined) throw new StrataError("USAGE", `${file} has no image "${name}" (tags: ${tags})`);
  return found;
}

/** Reads the image named `name` (NAME:TAG; default: the only one) from the docker-archive `file`. */
export async function readDockerArchive(file: string, name?: string): Promise<Image> {
  const members = await indexTar(file);
  const member = (path: string): Member => {
    const found = members.get(path.replace(/^\.\//, ""));
    if (found === undefined) throw malformed(file, `${path.slice(0, 200)} is not a file in it`);
    return found;
  };
  const manifestMember = members.get("manifest.json");
  if (manifestMember === undefined) throw malformed(file, "it has no manifest.json");
  const listBytes = await readRegion(file, manifestMember, undefined, `${file}: manifest.json`);
  let list: unknown;
  try {
    list = JSON.parse(listBytes.toString("utf8"));
  } catch {
    throw malformed(file, "manifest.json is not valid JSON");
  }
  const parsed = dockerManifest.safeParse(list);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw malformed(file, `manifest.json: ${issue.path.join(".")}: ${issue.message}`);
  }
  const entry = chooseEntry(file, parsed.data, name);

  const configBytes = await readRegion(file, member(entry.Config), undefined, `${file}: ${entry.Config}`);
  const configDescriptor = descriptorOf(MediaType.ociConfig, configBytes);
  checkClaim(file, entry.Config, digestHex(configDescriptor.digest));
  const config = parseImageConfig(configBytes, `${file}: ${entry.Config}`);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== entry.Layers.length) {
    throw malformed(file, `${entry.Layers.length} layers, but its config lists ${diffIds.length} diff IDs`);
  }

  const blobs = new DockerArchiveBlobs(file);
  const layers: Descriptor[] = [];
  for (const [i, path] of entry.Layers.entries()) {
    const layerMember = member(path);
    const descriptor = await layerDescriptor(file, layerMember);
    checkClaim(file, path, digestHex(descriptor.digest));
    if (descriptor.mediaType === MediaType.ociLayerTar && descriptor.digest !== diffIds[i]) {
      throw new StrataError(
        "HASH_MISMATCH",
        `${file}: layer ${path} is not the diff ID ${diffIds[i]} its config names`,
      );
    }
    blobs.members.set(descriptor.digest, layerMember);
    layers.push(descriptor);
  }
  const { manifest, manifestBytes } = composeManifest(configDescriptor, layers);
  return { manifest, manifestBytes, config, configBytes, blobs };
}

/** What a tar file holds: an OCI layout (oci-archive) or `docker save` output, told by its members. */
export async function archiveKind(file: string): Promise<"oci-archive" | "docker-archive"> {
  const members = await indexTar(file);
  if (members.has("index.json") && members.has("oci-layout")) return "oci-archive";
  if (members.has("manifest.json")) return "docker-archive";
  throw new StrataError("USAGE", `${file} is neither an oci-archive nor a docker-archive`, {
    hint: "an oci-archive holds index.json and oci-layout; a docker-archive holds manifest.json",
  });
}
