import { Readable } from "node:stream";
import { gunzipSync } from "node:zlib";
import { FACTS_VERSION, type PackageFacts } from "../effects/package-facts.js";
import { ancestors, type LayerEntry, normalisePath } from "../oci/layer-entry.js";
import { cacheStore } from "../util/cas.js";
import { StrataError } from "../util/errors.js";
import { sha256Hex } from "../util/hash.js";
import { SHA256_HEX } from "../util/verify.js";
import { z } from "../util/zod.js";

/**
 * A package layer's facts (what its members' maintainer scripts are, every path of the layer, the
 * files the scripts read, the CA bundle) as one value of the image record, so the files layer and the overlap
 * check can be made again from an image alone, with no local cache and no layer read.
 *
 * Encoding: canonical JSON (object keys sorted) of `{version, members, blobs}`, where `blobs` holds
 * the bytes (base64) of every content-store blob the members name (bodies, CA bundle), gzipped by
 * fflate at level 9 with mtime 0 (fflate, pinned by package-lock, gives the same bytes everywhere;
 * node:zlib may not), then base64. Equal facts give an equal string. Decoding is bounded and checks
 * every field, path and digest: the record comes from whoever made the image.
 */

/**
 * The most bytes the facts of one layer may unpack to (far above the biggest real layer's, a few
 * MiB), and the most they may expand: real facts (distinct paths, PEM text) gzip 2–10×, while a
 * crafted value of repeated tiny entries expands hundreds of times and costs seconds and GBs
 * to parse. Paths are capped as a .deb's entries are.
 */
const MAX_FACTS_BYTES = 16 << 20;
const MAX_FACTS_RATIO = 64;
const MAX_PATHS = 100_000;

/** Facts a layer's record carried, with the blobs they name. */
export interface DecodedFacts {
  members: PackageFacts[];
  /** sha256 hex → bytes, each checked against its name. */
  blobs: Map<string, Buffer>;
}

const hex = z.string().regex(SHA256_HEX);
const id = z.number().int().min(0).max(0xffffffff);
const mode = z.number().int().min(0).max(0o177777);
const path = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => safePath(p), "must be a normalised relative path");
const pathFact = z.union([
  z.tuple([path, z.enum(["f", "d", "l"]), mode, id, id]),
  z.tuple([path, z.literal("l"), mode, id, id, z.string().max(4096)]),
]);
const memberSchema = z.strictObject({
  package: z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/),
  version: z.string().max(200),
  architecture: z.string().max(32),
  scripts: z.array(z.string().max(32)).max(16),
  replaces: z.array(z.string().max(100)),
  maintainerScripts: z.strictObject({
    preinst: z.string().optional(),
    postinst: z.string().optional(),
    config: z.string().optional(),
    debconf: z.record(z.string(), z.string()).optional(),
  }),
  paths: z.array(pathFact).max(MAX_PATHS),
  bodies: z.record(path, hex),
  caBundle: z.strictObject({ sha256: hex, certificates: z.number().int().min(0) }).optional(),
  caCertificates: z
    .array(
      z.strictObject({
        path: z.string().max(4096),
        der: hex.optional(),
        subjectHash: z.string().max(16).optional(),
      }),
    )
    .optional(),
});
const factsSchema = z.strictObject({
  version: z.literal(FACTS_VERSION),
  members: z.array(memberSchema).min(1),
  blobs: z.record(hex, z.string().max(MAX_FACTS_BYTES)),
});

function safePath(p: string): boolean {
  try {
    return normalisePath(p, "facts") === p;
  } catch {
    return false;
  }
}

/** JSON with every object's keys sorted: one text for equal values, whatever order they were built in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, v[k]]),
        )
      : v,
  );
}

/** The content-store blobs a layer's facts name. */
function namedBlobs(members: PackageFacts[]): string[] {
  const names = members.flatMap((m) => [
    ...Object.values(m.bodies),
    ...(m.caBundle ? [m.caBundle.sha256] : []),
  ]);
  return [...new Set(names)].sort();
}

/** The record's value of a layer's facts, its blobs read from the content store at `storeRoot`. */
export async function encodeLayerFacts(members: PackageFacts[], storeRoot: string): Promise<string> {
  const { gzipSync } = await import("fflate");
  const store = cacheStore(storeRoot);
  const blobs: Record<string, string> = {};
  for (const name of namedBlobs(members)) {
    blobs[name] = (await store.readRecorded(name, `a file recorded for ${members[0].package}`)).toString(
      "base64",
    );
  }
  const json = Buffer.from(canonicalJson({ version: FACTS_VERSION, members, blobs }));
  return Buffer.from(gzipSync(json, { level: 9, mtime: 0 })).toString("base64");
}

function factsError(where: string, why: string): StrataError {
  return new StrataError("IMAGE_NOT_REBUILDABLE", `${where}: layer facts ${why}`, {
    hint: "the image's record is damaged or was not written by this strata; rebuild the image",
  });
}

/** The facts a record's value holds, every field and blob checked. */
export function decodeLayerFacts(text: string, where: string): DecodedFacts {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw factsError(where, "are not base64");
  const packed = Buffer.from(text, "base64");
  const limit = Math.min(MAX_FACTS_BYTES, Math.max(1 << 20, packed.length * MAX_FACTS_RATIO));
  let json: unknown;
  try {
    json = JSON.parse(gunzipSync(packed, { maxOutputLength: limit }).toString("utf8"));
  } catch {
    throw factsError(
      where,
      `are not gzipped JSON of at most ${limit} bytes (${MAX_FACTS_RATIO}× their size)`,
    );
  }
  const parsed = factsSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw factsError(where, `are malformed at ${issue.path.join(".")}: ${issue.message}`);
  }
  const blobs = new Map<string, Buffer>();
  for (const [name, base64] of Object.entries(parsed.data.blobs)) {
    const bytes = Buffer.from(base64, "base64");
    if (sha256Hex(bytes) !== name) throw factsError(where, `hold a blob that does not hash to ${name}`);
    blobs.set(name, bytes);
  }
  const members = parsed.data.members as PackageFacts[];
  const missing = namedBlobs(members).find((name) => !blobs.has(name));
  if (missing) throw factsError(where, `name the blob ${missing} but do not hold it`);
  return { members, blobs };
}

/** Puts decoded facts' blobs in the content store, where the files layer's effects read them. */
export async function storeLayerFacts(facts: DecodedFacts, storeRoot: string): Promise<void> {
  const store = cacheStore(storeRoot);
  for (const [name, bytes] of facts.blobs) {
    if (!(await store.has(name, { verify: true }))) await store.putVerified(Readable.from([bytes]), name);
  }
}

/**
 * The file and directory paths of a layer made of `members`, exactly as writeLayer lists them
 * (every member's paths, a file winning over a directory of the same path, missing parents added as
 * directories, in bytewise order), so the overlap check needs no layer read.
 */
export function layerPathsOf(members: PackageFacts[]): { files: string[]; dirs: string[] } {
  return writtenPaths(
    members.flatMap((m) => m.paths.map(([p, type]): [string, boolean] => [p, type === "d"])),
  );
}

/** The same for in-memory entries (a base or files layer taken from an image instead of written). */
export function entriesPathsOf(entries: LayerEntry[]): { files: string[]; dirs: string[] } {
  return writtenPaths(entries.map((e): [string, boolean] => [e.path, e.type === "dir"]));
}

function writtenPaths(paths: [path: string, dir: boolean][]): { files: string[]; dirs: string[] } {
  const isDir = new Map<string, boolean>();
  for (const [p, dir] of paths) {
    if (!dir) isDir.set(p, false);
    else if (!isDir.has(p)) isDir.set(p, true);
  }
  for (const p of [...isDir.keys()])
    for (const dir of ancestors(p)) if (!isDir.has(dir)) isDir.set(dir, true);
  const sorted = [...isDir.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return { files: sorted.filter((p) => !isDir.get(p)), dirs: sorted.filter((p) => isDir.get(p)) };
}
