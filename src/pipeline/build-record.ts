import { z } from "zod";
import { visitLayer } from "../inventory/layer-entries.js";
import { canonicalJson } from "../layers/layer-facts.js";
import { type Lock, lockSchema } from "../lock/lock-schema.js";
import type { Image } from "../oci/image.js";
import type { LayerEntry } from "../oci/layer-entry.js";
import { MAX_EPOCH, type Spec, specSchema } from "../spec/spec.js";
import { MAX_FILE_SOURCE_BYTES } from "../spec/spec-files.js";
import { StrataError } from "../util/errors.js";
import { sha256Hex } from "../util/hash.js";
import { SHA256_HEX } from "../util/verify.js";

/**
 * What an image was built from, on its manifest (`dev.strata.build`, canonical JSON): enough to
 * reconstruct the spec's resolution and layer inputs without the spec: the lock's inputs (requested
 * packages, excludes, repositories with suites, components, keyring), the InRelease sha256s it was
 * locked from, this architecture's exclusions, the layer budget and compression, docs, epoch, the
 * spec's accounts, and the spec's files (their bodies are in the files layer: path, mode, owner,
 * sha256, size). The packages themselves are on the layer descriptors (`dev.strata.packages.json`).
 */
export const BUILD_RECORD_VERSION = 1;

const specFile = z.strictObject({
  path: z.string().max(4096),
  mode: z.number().int().min(0).max(0o7777),
  uid: z.number().int().min(0).max(0xffffffff),
  gid: z.number().int().min(0).max(0xffffffff),
  sha256: z.string().regex(SHA256_HEX),
  // A spec file is at most what spec-files reads from disk: a crafted record cannot make the
  // update hold more than that of the files layer in memory.
  size: z.number().int().min(0).max(MAX_FILE_SOURCE_BYTES),
});

const recordSchema = z.strictObject({
  version: z.literal(BUILD_RECORD_VERSION),
  arch: z.string().max(32),
  lock: z.strictObject({
    inputs: lockSchema.shape.inputs,
    releases: lockSchema.shape.releases,
    excluded: lockSchema.shape.excluded,
  }),
  layers: z.strictObject({ max: z.number().int().min(3).max(127), compression: z.enum(["gzip", "zstd"]) }),
  docs: z.boolean(),
  epoch: z.number().int().min(0).max(MAX_EPOCH),
  accounts: specSchema.shape.accounts,
  files: z.array(specFile),
});

export type BuildRecord = z.infer<typeof recordSchema>;
export type RecordedFile = z.infer<typeof specFile>;

export function buildRecord(
  spec: Spec,
  lock: Lock,
  arch: string,
  epoch: number,
  specFiles: LayerEntry[],
): BuildRecord {
  return {
    version: BUILD_RECORD_VERSION,
    arch,
    lock: {
      inputs: lock.inputs,
      releases: lock.releases,
      excluded: lock.excluded.filter((e) => e.arch === arch),
    },
    layers: { max: spec.layers.max, compression: spec.layers.compression },
    docs: spec.docs,
    epoch,
    ...(spec.accounts ? { accounts: spec.accounts } : {}),
    files: specFiles.map((f) => ({
      path: f.path,
      mode: f.mode,
      uid: f.uid,
      gid: f.gid,
      sha256: sha256Hex(f.body ?? Buffer.alloc(0)),
      size: f.body?.length ?? 0,
    })),
  };
}

export function buildRecordText(record: BuildRecord): string {
  return canonicalJson(record);
}

/** The build record of an image's manifest annotation, every field checked. */
export function parseBuildRecord(text: string, where: string): BuildRecord {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw recordError(where, "is not JSON");
  }
  const parsed = recordSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw recordError(where, `is malformed at ${issue.path.join(".")}: ${issue.message}`);
  }
  return parsed.data;
}

/**
 * The spec's files as an image holds them, for a rebuild without the spec: read from its files layer
 * (streamed, only the recorded paths' bodies kept), each checked against the record's sha256.
 */
export async function recordedFiles(image: Image, record: BuildRecord, where: string): Promise<LayerEntry[]> {
  // Recorded as the spec's entries name them ("/etc/x"); the layer's paths are relative.
  const wanted = new Map(record.files.map((f) => [f.path.replace(/^\/+/, ""), f]));
  const found = new Map<string, Buffer>();
  const filesLayer = image.manifest.layers.at(-1);
  if (wanted.size > 0 && filesLayer) {
    await visitLayer(image, filesLayer, where, async (e) => {
      const f = wanted.get(e.path);
      if (f && e.type === "file") found.set(e.path, await e.body(f.size));
    });
  }
  return record.files.map((f) => {
    const body = found.get(f.path.replace(/^\/+/, ""));
    if (body === undefined || sha256Hex(body) !== f.sha256) {
      throw recordError(where, `names /${f.path}, which its files layer does not hold with that sha256`);
    }
    return { path: f.path, type: "file", mode: f.mode, uid: f.uid, gid: f.gid, body };
  });
}

function recordError(where: string, why: string): StrataError {
  return new StrataError("IMAGE_UNACCOUNTED", `${where}: the build record (dev.strata.build) ${why}`, {
    hint: "the image's annotations are damaged or were written by another strata version; rebuild the image",
  });
}
