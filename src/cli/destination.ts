import { stat } from "node:fs/promises";
import { Option } from "commander";
import { readOciArchive, writeDockerArchive, writeOciArchive } from "../oci/archive.js";
import { type Artifact, artifactImages } from "../oci/image.js";
import { readLayout, writeLayout } from "../oci/layout.js";
import { chooseImage } from "../oci/platform.js";
import { parseCredentials } from "../oci/registry/auth.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { StrataError } from "../util/errors.js";

export const OUTPUT_FORMATS = ["oci", "oci-archive", "docker-archive"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** `--format` for build and pull: anything but the three formats is a usage error that lists them. */
export function formatOption(): Option {
  return new Option("--format <format>", "oci (a layout directory), oci-archive or docker-archive")
    .choices(OUTPUT_FORMATS)
    .default("oci");
}

/** The name archives give an image when nothing names it (`podman load` shows localhost/strata/image:TAG). */
export const DEFAULT_IMAGE_NAME = "strata/image";

export interface WriteOptions {
  format: OutputFormat;
  force?: boolean;
  /** The layout's `org.opencontainers.image.ref.name` ("latest", or "myapp:v1" when --tag named the image). */
  refName: string;
  /** "name:tag" for archives: the oci-archive's ref.name and the docker-archive's RepoTags, what loaders show. */
  archiveName: string;
  /** For docker-archive of a multi-platform artifact: which image (see platform.ts). */
  platform?: string;
}

/** Writes an artifact to a local home: an OCI layout directory, an oci-archive or a docker-archive. */
export async function writeArtifact(path: string, artifact: Artifact, opts: WriteOptions): Promise<void> {
  const { force } = opts;
  if (opts.format === "oci") {
    await writeLayout(path, artifact, { tag: opts.refName, force });
  } else if (opts.format === "oci-archive") {
    await writeOciArchive(path, artifact, { tag: opts.archiveName, force });
  } else {
    const image = chooseImage(artifactImages(artifact), opts.platform, "a docker-archive holds one image");
    await writeDockerArchive(path, image, { repoTags: [opts.archiveName], force });
  }
}

/** Reads an artifact from a local home: a layout directory or an oci-archive file. */
export async function readArtifact(path: string, ref?: string): Promise<Artifact> {
  const info = await stat(path).catch(() => undefined);
  if (!info)
    throw new StrataError("USAGE", `${path}: no such layout or archive`, {
      hint: "build one with strata build -o",
    });
  return info.isDirectory() ? readLayout(path, ref) : readOciArchive(path, ref);
}

export interface RegistryFlags {
  creds?: string;
  insecure?: boolean;
  tlsVerify?: boolean;
  caFile?: string;
}

export function registryOptions(flags: RegistryFlags): RegistryClientOptions {
  return {
    insecure: flags.insecure,
    credentials: flags.creds ? parseCredentials(flags.creds) : undefined,
    tlsVerify: flags.tlsVerify,
    caFile: flags.caFile,
  };
}
