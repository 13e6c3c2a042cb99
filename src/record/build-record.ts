import { type Lock, lockSchema } from "../lock/lock-schema.js";
import { type LayerEntry, normalisePath } from "../oci/layer-entry.js";
import { MAX_EPOCH, type Spec, specSchema } from "../spec/spec.js";
import { MAX_FILE_SOURCE_BYTES } from "../spec/spec-files.js";
import { StrataError } from "../util/errors.js";
import { sha256Hex } from "../util/hash.js";
import { SHA256_HEX } from "../util/verify.js";
import { z } from "../util/zod.js";

/**
 * What an image was built from, in its record (record.ts, `build`): enough to
 * reconstruct the spec's resolution and layer inputs without the spec: the lock's inputs (requested
 * packages, excludes, repositories with suites, components, keyring), the InRelease sha256s it was
 * locked from, this architecture's exclusions, the layer budget and compression, docs, epoch, the
 * spec's accounts, and the spec's files (their bodies are in the files layer: path, mode, owner,
 * sha256, size). The packages themselves are in the record's layers.
 */
export const BUILD_RECORD_VERSION = 1;

/** As a build records a spec file's path: "/" and a normalised relative path (spec-files.ts imagePath). */
function isRecordedPath(path: string): boolean {
  try {
    return (
      path.startsWith("/") && path.length > 1 && normalisePath(path.slice(1), "record") === path.slice(1)
    );
  } catch {
    return false;
  }
}

/** Far more files than a spec lists by hand: a crafted record cannot list millions (messages name them). */
const MAX_RECORDED_FILES = 10_000;

const specFile = z.strictObject({
  // Checked as a spec's path is: one with "..", a control character or a newline never reaches a
  // layer entry or an error message.
  path: z.string().max(4096).refine(isRecordedPath, "must be / and a normalised relative path"),
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
  files: z.array(specFile).max(MAX_RECORDED_FILES),
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

/** The build record an image record holds, every field checked. */
export function parseBuildRecord(json: unknown, where: string): BuildRecord {
  const parsed = recordSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw recordError(where, `is malformed at ${issue.path.join(".")}: ${issue.message}`);
  }
  return parsed.data;
}

function recordError(where: string, why: string): StrataError {
  return new StrataError("IMAGE_NOT_REBUILDABLE", `${where}: the build record ${why}`, {
    hint: "the image's record is damaged or was written by another strata version; rebuild the image",
  });
}
