import { stat } from "node:fs/promises";
import { ociPlatform } from "../build/image-config.js";
import { hostDebianArch } from "../debian/sources.js";
import { readOciArchive, writeDockerArchive, writeOciArchive } from "../oci/archive.js";
import { type Artifact, artifactImages } from "../oci/image.js";
import { readLayout, writeLayout } from "../oci/layout.js";
import { parseCredentials } from "../oci/registry/auth.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { StrataError } from "../util/errors.js";

export type OutputFormat = "oci" | "oci-archive" | "docker-archive";

export interface WriteOptions {
  format: OutputFormat;
  force?: boolean;
  /** Tag in the layout / archive (default "latest"). */
  tag: string;
  /** For docker-archive of a multi-arch build: which architecture (Debian name) to write. */
  platform?: string;
}

/** Writes an artifact to a local home: an OCI layout directory, an oci-archive or a docker-archive. */
export async function writeArtifact(path: string, artifact: Artifact, opts: WriteOptions): Promise<void> {
  if (opts.format === "oci") {
    await writeLayout(path, artifact, { tag: opts.tag, force: opts.force });
    return;
  }
  if (!opts.force && (await stat(path).catch(() => undefined))) {
    throw new StrataError("OUTPUT_EXISTS", `${path} already exists`, { hint: "pass --force to replace it" });
  }
  if (opts.format === "oci-archive") {
    await writeOciArchive(path, artifact, { tag: opts.tag });
    return;
  }
  const image = pickImage(artifact, opts.platform);
  const repoTag = `strata/image:${opts.tag}`;
  await writeDockerArchive(path, image, { repoTags: [repoTag] });
}

/** The image of an artifact for one architecture (the host's by default, for a docker-archive). */
function pickImage(artifact: Artifact, platform?: string) {
  const images = artifactImages(artifact);
  if (images.length === 1 && !platform) return images[0];
  const want = ociPlatform(platform ?? hostDebianArch());
  // The variant decides only when the platform has one (arm64 is v8; amd64 has none).
  const found = images.find(
    (i) =>
      i.config.architecture === want.architecture && (!want.variant || i.config.variant === want.variant),
  );
  if (!found) {
    const have = images.map((i) => i.config.architecture).join(", ");
    throw new StrataError(
      "USAGE",
      `no image for ${platform ?? hostDebianArch()} in this build (have ${have})`,
      {
        hint: "a docker-archive holds one image: pick it with --platform",
      },
    );
  }
  return found;
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
