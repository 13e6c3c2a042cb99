import { type ErrorCode, StrataError } from "../util/errors.js";
import { SHA256_DIGEST } from "../util/verify.js";
import { z } from "../util/zod.js";
import { type Descriptor, type ImageConfig, type Index, type Manifest, MediaType } from "./types.js";

/**
 * Validating readers for the JSON an image is made of. Manifests, indexes and configs come from
 * registries and archives strata does not control: every digest that may later name a file must be
 * `sha256:<64 hex>`, every size a safe integer, before anything uses them.
 */

/** The most bytes a manifest or index may have (what registries accept, per the distribution spec). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** The most bytes an image config may have: generous for history and labels, small enough to hold. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/**
 * The media type of manifest or index bytes: the one they declare, else an index when they list
 * manifests, else `declared` (the descriptor's or the Content-Type). Unparseable bytes get `declared`:
 * the parser that reads them says what is wrong.
 */
export function sniffMediaType(bytes: Buffer, declared: string | undefined): string | undefined {
  let parsed: { mediaType?: unknown; manifests?: unknown } | null;
  try {
    parsed = JSON.parse(bytes.toString("utf8"));
  } catch {
    return declared;
  }
  if (typeof parsed?.mediaType === "string") return parsed.mediaType;
  return Array.isArray(parsed?.manifests) ? MediaType.ociIndex : declared;
}

const digest = z.string().regex(SHA256_DIGEST, "must be sha256:<64 lowercase hex>");
const size = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const annotations = z.record(z.string(), z.string()).optional();
const mediaType = z.string().max(255);

const platform = z.looseObject({
  architecture: z.string().max(64),
  os: z.string().max(64),
  variant: z.string().max(64).optional(),
  "os.version": z.string().max(255).optional(),
  "os.features": z.array(z.string().max(255)).max(64).optional(),
});

const descriptor = z.looseObject({
  mediaType,
  digest,
  size,
  annotations,
  platform: platform.optional(),
  artifactType: mediaType.optional(),
});

const manifest = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: mediaType.optional(),
  artifactType: mediaType.optional(),
  config: descriptor,
  layers: z.array(descriptor).max(1024),
  subject: descriptor.optional(),
  annotations,
});

const index = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: mediaType.optional(),
  manifests: z.array(descriptor).max(4096),
  annotations,
});

const config = z.looseObject({
  architecture: z.string().max(64),
  os: z.string().max(64),
  rootfs: z.looseObject({ type: z.literal("layers"), diff_ids: z.array(digest).max(1024) }),
});

interface Context {
  what: string;
  where: string;
  /** The error code for malformed input: IO for local image locations, REGISTRY for a registry's answers. */
  code: ErrorCode;
}

function parseWith<T>(schema: z.ZodType, bytes: Buffer, max: number, { what, where, code }: Context): T {
  if (bytes.length > max) {
    throw new StrataError(code, `${where}: ${what} is ${bytes.length} bytes, more than the ${max} allowed`);
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new StrataError(code, `${where}: ${what} is not valid JSON`);
  }
  const result = schema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
    throw new StrataError(code, `${where}: ${what} is malformed (${path}${issue.message})`);
  }
  return result.data as T;
}

/** An image manifest; `mediaType` falls back to the descriptor's, as OCI allows it to be absent. */
export function parseManifest(
  bytes: Buffer,
  where: string,
  fallbackMediaType?: string,
  code: ErrorCode = "IO",
): Manifest {
  const parsed = parseWith<Manifest>(manifest, bytes, MAX_MANIFEST_BYTES, { what: "manifest", where, code });
  parsed.mediaType ??= fallbackMediaType ?? MediaType.ociManifest;
  return parsed;
}

export function parseIndex(
  bytes: Buffer,
  where: string,
  fallbackMediaType?: string,
  code: ErrorCode = "IO",
): Index {
  const parsed = parseWith<Index>(index, bytes, MAX_MANIFEST_BYTES, { what: "index", where, code });
  parsed.mediaType ??= fallbackMediaType ?? MediaType.ociIndex;
  return parsed;
}

export function parseImageConfig(bytes: Buffer, where: string, code: ErrorCode = "IO"): ImageConfig {
  return parseWith<ImageConfig>(config, bytes, MAX_CONFIG_BYTES, { what: "image config", where, code });
}

/** A descriptor from elsewhere (an index entry, a referrers list), checked on its own. */
export function parseDescriptor(value: unknown, where: string, code: ErrorCode = "IO"): Descriptor {
  const result = descriptor.safeParse(value);
  if (!result.success) {
    throw new StrataError(code, `${where}: malformed descriptor (${result.error.issues[0].message})`);
  }
  return result.data as Descriptor;
}
