import type { LayerBlob } from "../layers/layer.js";
import { type BlobSource, descriptorOf, type Image, jsonBytes } from "../oci/image.js";
import { Annotation, type Descriptor, type ImageConfig, type Manifest, MediaType } from "../oci/types.js";
import type { Spec } from "../spec/spec.js";

export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** A built layer and what it holds, in image order. */
export interface ImageLayer {
  blob: LayerBlob;
  kind: "base" | "package" | "group" | "files";
  /** "name=version" of the packages in it (empty for base and files). */
  packages: string[];
}

/** Debian architecture → OCI platform architecture and variant. */
export function ociPlatform(debianArch: string): { architecture: string; variant?: string } {
  const map: Record<string, { architecture: string; variant?: string }> = {
    amd64: { architecture: "amd64" },
    arm64: { architecture: "arm64", variant: "v8" },
    armhf: { architecture: "arm", variant: "v7" },
    armel: { architecture: "arm", variant: "v5" },
    i386: { architecture: "386" },
    ppc64el: { architecture: "ppc64le" },
    s390x: { architecture: "s390x" },
    riscv64: { architecture: "riscv64" },
    mips64el: { architecture: "mips64le" },
  };
  return map[debianArch] ?? { architecture: debianArch };
}

function historyText(layer: ImageLayer): string {
  switch (layer.kind) {
    case "base":
      return "strata: base (merged-/usr links, directories, accounts)";
    case "files":
      return "strata: files (spec files and maintainer-script effects)";
    default:
      return `strata: ${layer.packages.join(" ")}`;
  }
}

/**
 * Assembles an image's config and manifest from its layers and the spec's image settings. Every
 * value comes from the spec, the lock and the layers; `created` is the build epoch, never the clock.
 */
export function assembleImage(
  spec: Spec,
  debianArch: string,
  layers: ImageLayer[],
  epoch: number,
  blobs: BlobSource,
): Image {
  const created = new Date(epoch * 1000).toISOString();
  const env = { PATH: DEFAULT_PATH, ...(spec.env ?? {}) };
  const platform = ociPlatform(debianArch);
  const runConfig: NonNullable<ImageConfig["config"]> = {
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
  };
  if (spec.entrypoint) runConfig.Entrypoint = spec.entrypoint;
  if (spec.cmd) runConfig.Cmd = spec.cmd;
  if (spec.user) runConfig.User = spec.user;
  if (spec.workdir) runConfig.WorkingDir = spec.workdir;
  if (spec.labels) runConfig.Labels = spec.labels;
  const config: ImageConfig = {
    created,
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: "linux",
    config: runConfig,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.blob.diffId) },
    history: layers.map((l) => ({ created, created_by: historyText(l), comment: l.kind })),
  };
  const configBytes = jsonBytes(config);
  const layerDescriptors: Descriptor[] = layers.map((l) => {
    const annotations: Record<string, string> = { [Annotation.layerKind]: l.kind };
    if (l.packages.length > 0) annotations[Annotation.packages] = l.packages.join(" ");
    return { mediaType: l.blob.mediaType, digest: l.blob.digest, size: l.blob.size, annotations };
  });
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: descriptorOf(MediaType.ociConfig, configBytes),
    layers: layerDescriptors,
    annotations: { [Annotation.created]: created },
  };
  return { manifest, manifestBytes: jsonBytes(manifest), config, configBytes, blobs };
}
