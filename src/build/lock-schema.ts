import { z } from "zod";

/**
 * The shape of every lock field, checked on read: a lock is input, and its names, digests and pool
 * paths reach URLs and cache paths.
 */
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lower-case hex digits");
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

export const lockedPackageSchema = z.strictObject({
  name,
  version,
  arch,
  architecture: z.union([arch, z.literal("all")]),
  source: name,
  sourceVersion: version,
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
  reason: z.enum(["requested", "dependency"]),
  requiredBy: z.array(name),
});

export const lockSchema = z.strictObject({
  lockVersion: z.literal(1),
  inputs: z.strictObject({
    archs: z.array(arch).min(1),
    packages: z.array(z.string().max(300)),
    exclude: z.array(name),
    repositories: z.array(
      z.strictObject({
        url,
        suites: z.array(pathPart),
        components: z.array(pathPart),
        keyring: z.string().max(4096),
      }),
    ),
  }),
  releases: z.array(z.strictObject({ url, suite: pathPart, inRelease: sha256, date: z.string().max(100) })),
  packages: z.array(lockedPackageSchema),
  excluded: z.array(
    z.strictObject({
      name,
      arch,
      excludedBy: z.enum(["spec", "default"]),
      neededBy: z.array(name),
    }),
  ),
});
