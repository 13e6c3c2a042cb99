import type { Readable } from "node:stream";
import { lockSchema } from "../lock/lock-schema.js";
import { descriptorOf, type Image, MissingBlobError } from "../oci/image.js";
import { ociPlatform } from "../oci/platform.js";
import type { Descriptor } from "../oci/types.js";
import { collectAtMost } from "../util/collect.js";
import { isStrataError, StrataError } from "../util/errors.js";
import { sha256Hex } from "../util/hash.js";
import { defaultTimeouts } from "../util/http.js";
import { z } from "../util/zod.js";
import { type BuildRecord, parseBuildRecord } from "./build-record.js";
import { RECORD_MEDIA_TYPE, StrataAnnotation } from "./keys.js";
import { canonicalJson } from "./layer-facts.js";
import type { LayerRecord } from "./layer-record.js";

/**
 * The image record (README "Image annotations"): one content-addressed blob, canonical JSON, that
 * holds what an image was built from (build-record.ts) and, per layer (by digest and diff ID), its
 * kind, options, lock entries, facts and inputs. The manifest names it by digest
 * (`dev.strata.record`), so the manifest digest pins it: a record is believed only when it is the
 * blob the manifest names and its layers are the manifest's. It is read through the image's own
 * blob source (a layout's blobs/, an archive member, a registry's blob by digest).
 */

export const IMAGE_RECORD_VERSION = 1;

/**
 * The most bytes a record may have when read: far above a real one (the facts of a 100-layer JDK
 * image are a few MiB), so a crafted or runaway blob costs no more than this to refuse.
 */
export const MAX_RECORD_BYTES = 64 << 20;

export type RecordedLayer = LayerRecord & { digest: string; diffId: string };

export interface ImageRecord {
  version: typeof IMAGE_RECORD_VERSION;
  build: BuildRecord;
  layers: RecordedLayer[];
}

const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);
const layerSchema = z.strictObject({
  digest,
  diffId: digest,
  kind: z.enum(["base", "package", "group", "files"]),
  options: z.strictObject({
    compression: z.string().max(300),
    docs: z.boolean(),
    epoch: z.number().int().min(0),
  }),
  packages: lockSchema.shape.packages.element.omit({ arch: true }).array().min(1).optional(),
  facts: z.string().max(MAX_RECORD_BYTES).optional(),
  inputs: digest.optional(),
});
const recordSchema = z.strictObject({
  version: z.literal(IMAGE_RECORD_VERSION),
  build: z.unknown(),
  layers: z.array(layerSchema).max(1000),
});

/** The record's blob: its bytes (canonical JSON) and descriptor. */
export function recordBlob(record: ImageRecord): { descriptor: Descriptor; bytes: Buffer } {
  const bytes = Buffer.from(canonicalJson(record));
  return { descriptor: descriptorOf(RECORD_MEDIA_TYPE, bytes), bytes };
}

/**
 * Why the record a manifest names is not read: the manifest names none ("unnamed"), the image's
 * source has no such blob ("absent": copied by a tool that does not carry referrers), or what is
 * there is not to be believed ("untrusted": another blob, too big, malformed, of other layers).
 * A failure to read it (network, timeout) is not a refusal: it keeps its own code.
 */
export type RecordFault = "unnamed" | "absent" | "untrusted";

export class RecordRefusedError extends StrataError {
  constructor(
    readonly fault: RecordFault,
    message: string,
    hint: string,
  ) {
    super("IMAGE_NOT_REBUILDABLE", message, { hint });
  }
}

function notRebuildable(where: string, why: string, hint: string, fault: RecordFault = "untrusted") {
  return new RecordRefusedError(fault, `${where}: ${why}`, hint);
}

const REBUILD = "rebuild the image with `strata build`";

/** The digest of the record `image`'s manifest names, or why it names none. */
export function recordDigest(image: Image, where: string): string {
  const named = image.manifest.annotations?.[StrataAnnotation.record];
  if (named === undefined) {
    const byStrata = image.manifest.layers.some(
      (l) => l.annotations?.[StrataAnnotation.layerKind] !== undefined,
    );
    const why = byStrata
      ? `built by an older strata: no ${StrataAnnotation.record} annotation`
      : "not built by strata";
    throw notRebuildable(where, why, REBUILD, "unnamed");
  }
  if (!/^sha256:[0-9a-f]{64}$/.test(named))
    throw notRebuildable(where, `its ${StrataAnnotation.record} annotation is not a sha256 digest`, REBUILD);
  // Its config or a layer as its record: at best junk, at worst a layer of gigabytes read as one.
  const { config, layers } = image.manifest;
  if (named === config.digest || layers.some((l) => l.digest === named))
    throw notRebuildable(where, `its ${StrataAnnotation.record} names its own config or a layer`, REBUILD);
  return named;
}

/**
 * Reading a record may take this many idle timeouts (STRATA_HTTP_TIMEOUT, 30 s by default) in
 * all: a record is small, so a source that trickles one (each chunk within the idle timeout) is
 * refused in minutes, not waited for through 64 MiB.
 */
const RECORD_DEADLINE_IDLE_TIMEOUTS = 8;

/**
 * The bytes of the record `image`'s manifest names, read through its blob source, at most
 * MAX_RECORD_BYTES, within the deadline, and checked against the digest. Refused with a
 * RecordRefusedError when absent or not to be believed; a failure to read it keeps its code.
 */
export async function readRecordBytes(image: Image, where: string): Promise<Buffer> {
  const named = recordDigest(image, where);
  try {
    return await withinDeadline((opened) => readNamedBlob(image, named, where, opened));
  } catch (err) {
    throw readFailure(err, named, where);
  }
}

/**
 * What `read` gives, or a NETWORK error once the record deadline passes; the stream `read` opened
 * is destroyed then, or as soon as it is opened when that is later (its connection dropped).
 */
async function withinDeadline<T>(read: (opened: (stream: Readable) => void) => Promise<T>): Promise<T> {
  const ms = defaultTimeouts().idleMs * RECORD_DEADLINE_IDLE_TIMEOUTS;
  const err = new StrataError("NETWORK", `not read within ${ms / 1000} s`);
  const streams: Readable[] = [];
  let expired = false;
  const opened = (stream: Readable) => {
    streams.push(stream);
    if (expired) stream.destroy(err);
  };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      expired = true;
      for (const stream of streams) stream.destroy(err);
      reject(err);
    }, ms);
  });
  try {
    return await Promise.race([read(opened), late]);
  } finally {
    clearTimeout(timer);
  }
}

async function readNamedBlob(image: Image, named: string, where: string, opened: (s: Readable) => void) {
  const stream = await image.blobs.open(named, { maxBytes: MAX_RECORD_BYTES });
  opened(stream);
  const bytes = await collectAtMost(stream, MAX_RECORD_BYTES, () =>
    notRebuildable(where, `its record ${named} is more than ${MAX_RECORD_BYTES} bytes`, REBUILD),
  );
  if (`sha256:${sha256Hex(bytes)}` !== named)
    throw notRebuildable(where, `its record does not match its manifest: the blob is not ${named}`, REBUILD);
  return bytes;
}

/** `err` from reading the record `named` as what it means: refused (absent, untrusted) or a failure. */
function readFailure(err: unknown, named: string, where: string): StrataError {
  if (err instanceof RecordRefusedError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  if (err instanceof MissingBlobError) {
    const hint = "copy images with strata (build, push, pull and update carry the record), or rebuild it";
    return notRebuildable(where, `its record ${named} is missing (${detail})`, hint, "absent");
  }
  // The source's own check: what it served is not the blob the digest names, or longer than any record.
  if (isStrataError(err, "HASH_MISMATCH") || isStrataError(err, "SIZE_MISMATCH"))
    return notRebuildable(where, `its record ${named} does not match its manifest (${detail})`, REBUILD);
  const code = err instanceof StrataError ? err.code : "IO";
  return new StrataError(code, `${where}: its record ${named} could not be read: ${detail}`, {
    hint:
      (err instanceof StrataError ? err.hint : undefined) ??
      "check that the image's source is reachable, then try again",
  });
}

/**
 * Records read and believed, per image: whoever asks again for the same image (an update's check,
 * then its reuse of the old layers; a fleet add's trust check, then its inventory through an image
 * whose layers it unpacks) is not served another read of the blob. Kept by the manifest's bytes,
 * which every view of one image shares and which fix its layers, config and record digest. A
 * refusal or a failure is not kept.
 */
const believed = new WeakMap<Buffer, ImageRecord>();

/** The record `image`'s manifest names, every field checked and its layers the manifest's. */
export async function readImageRecord(image: Image, where: string): Promise<ImageRecord> {
  const kept = believed.get(image.manifestBytes);
  if (kept !== undefined) return kept;
  const bytes = await readRecordBytes(image, where);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw notRebuildable(where, "its record is not JSON", REBUILD);
  }
  const parsed = recordSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw notRebuildable(
      where,
      `its record is malformed at ${issue.path.join(".")}: ${issue.message}`,
      REBUILD,
    );
  }
  const record = { ...parsed.data, build: believedBuild(parsed.data.build, where) } as ImageRecord;
  checkLayers(record, image, where);
  checkPlatform(record, image, where);
  believed.set(image.manifestBytes, record);
  return record;
}

/**
 * The record's architecture must be the config's: an image of only `Architecture: all` packages has
 * the same layers on every platform, so another platform's record would pass checkLayers, and an
 * update would rebuild the image for the record's architecture.
 */
function checkPlatform(record: ImageRecord, image: Image, where: string): void {
  const recorded = ociPlatform(record.build.arch);
  const { architecture, variant } = image.config;
  const sameVariant = variant === undefined || recorded.variant === undefined || variant === recorded.variant;
  if (recorded.architecture !== architecture || !sameVariant) {
    const platform = [architecture, variant].filter(Boolean).join("/");
    throw notRebuildable(
      where,
      `its record does not match its manifest: the record is of ${record.build.arch}, the image of ${platform}`,
      REBUILD,
    );
  }
}

/** The record's build record, parsed; a malformed one is a record not to be believed. */
function believedBuild(build: unknown, where: string): BuildRecord {
  try {
    return parseBuildRecord(build, where);
  } catch (err) {
    if (!isStrataError(err, "IMAGE_NOT_REBUILDABLE")) throw err;
    throw new RecordRefusedError("untrusted", err.message, err.hint ?? REBUILD);
  }
}

/** The record's layers must be the manifest's layers with the config's diff IDs, in order. */
function checkLayers(record: ImageRecord, image: Image, where: string): void {
  const layers = image.manifest.layers;
  const diffIds = image.config.rootfs.diff_ids;
  const differ =
    record.layers.length !== layers.length ||
    record.layers.some((l, i) => l.digest !== layers[i].digest || l.diffId !== diffIds[i]);
  if (differ) {
    throw notRebuildable(
      where,
      "its record does not match its manifest: the record's layers are not the manifest's layers and diff IDs",
      REBUILD,
    );
  }
}
