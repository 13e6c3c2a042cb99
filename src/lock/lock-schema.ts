import { SHA256_HEX } from "../util/verify.js";
import { z } from "../util/zod.js";

/**
 * The shape of every lock field, checked on read: a lock is input, and its names, digests and pool
 * paths reach URLs and cache paths.
 */
const sha256 = z.string().regex(SHA256_HEX, "must be 64 lower-case hex digits");
const name = z
  .string()
  .max(100)
  .regex(/^[a-z0-9][a-z0-9+.-]+$/, "must be a Debian package name");
// Debian Policy 5.6.12: [epoch:]upstream[-revision], upstream starting with a digit, no spaces.
const version = z
  .string()
  .max(200)
  .regex(/^(?:\d{1,9}:)?\d[A-Za-z0-9.+~:-]*$/, "must be a Debian version");
const arch = z
  .string()
  .max(32)
  .regex(/^[a-z0-9][a-z0-9-]*$/, "must be a Debian architecture name");
const pathPart = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/+-]*$/, "must be a suite or component name")
  .refine((s) => !s.split("/").includes(".."), "must not contain ..");
const poolPath = z
  .string()
  .max(1024)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/+~:-]*\.u?deb$/, "must be a relative pool path of a .deb")
  .refine(
    (s) => s.split("/").every((part) => part !== "" && part !== "." && part !== ".."),
    "must not contain ., .. or //",
  );
const url = z
  .string()
  .max(2048)
  .regex(/^(https?|file):\/\/[^\s]+$/, "must be an http(s):// or file:// URL");

export const LOCK_VERSION = 1;

/** What the lock was resolved from; a spec whose inputs differ is not covered by the lock. */
const lockInputs = z.strictObject({
  archs: z.array(arch).min(1),
  packages: z.array(z.string().max(300)),
  exclude: z.array(name),
  /** Present (true) only when the spec asked for Debian's Essential set. */
  essential: z.literal(true).optional(),
  repositories: z.array(
    z.strictObject({
      url,
      suites: z.array(pathPart),
      components: z.array(pathPart),
      keyring: z.string().max(4096),
    }),
  ),
});

const lockedRelease = z.strictObject({
  url,
  suite: pathPart,
  /** sha256 of the signed InRelease the indexes were verified against. */
  inRelease: sha256,
  date: z.string().max(100),
});

const lockedPackage = z.strictObject({
  name,
  version,
  /** The image architecture this entry belongs to. */
  arch,
  /** The package's own Architecture field (the image arch or "all"). */
  architecture: arch,
  source: name,
  sourceVersion: version,
  /** Debian Priority (required, important, standard, optional); orders layers. */
  priority: z
    .string()
    .max(32)
    .regex(/^[a-z]+$/, "must be a Debian priority"),
  sha256,
  size: z
    .number()
    .int()
    .positive()
    .max(2 ** 40, "must be at most 1 TiB"),
  filename: poolPath,
  repository: url,
  suite: pathPart,
  component: pathPart,
  /** "requested" (named in the spec, or base-files), or "dependency". */
  reason: z.enum(["requested", "dependency"]),
  requiredBy: z.array(name),
});

const lockedExclusion = z.strictObject({
  name,
  arch,
  /** "spec" when the spec's exclude list names it, "default" when strata's default list does. */
  excludedBy: z.enum(["spec", "default"]),
  /** Chosen packages with a dependency that this exclusion counts as met. */
  neededBy: z.array(name),
});

export const lockSchema = z.strictObject({
  lockVersion: z.literal(LOCK_VERSION),
  inputs: lockInputs,
  releases: z.array(lockedRelease),
  packages: z.array(lockedPackage),
  excluded: z.array(lockedExclusion),
});

export type LockInputs = z.infer<typeof lockInputs>;
export type LockedRelease = z.infer<typeof lockedRelease>;
export type LockedPackage = z.infer<typeof lockedPackage>;
export type LockedExclusion = z.infer<typeof lockedExclusion>;
export type Lock = z.infer<typeof lockSchema>;
