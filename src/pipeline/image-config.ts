import type { LayerBlob } from "../layers/write-layer.js";
import { DEFAULT_PATH } from "../oci/default-path.js";
import type { BlobSource } from "../oci/image.js";
import type { ImageParts } from "../oci/mutate.js";
import { ociPlatform } from "../oci/platform.js";
import type { HistoryEntry, ImageConfig } from "../oci/types.js";
import type { Spec } from "../spec/spec.js";

/** A layer of a built image and what it holds, in image order. */
export interface BuiltLayer {
  blob: LayerBlob;
  kind: "base" | "package" | "group" | "files";
  /** "name=version" of the packages in it (empty for base and files). */
  packages: string[];
  /** Where the blob's bytes are (the content store, or an image it was reused from). */
  bytes: BlobSource;
  /** What its descriptor says of it (src/pipeline/layer-annotations.ts). */
  annotations: Record<string, string>;
}

function historyText(layer: BuiltLayer): string {
  switch (layer.kind) {
    case "base":
      return "strata: base (merged-/usr links, directories, accounts)";
    case "files":
      return "strata: files (spec files and maintainer-script effects)";
    default:
      return `strata: ${layer.packages.join(" ")}`;
  }
}

/** A built layer's history entry; `created` is the build epoch, never the clock. */
export function layerHistory(layer: BuiltLayer, epoch: number): HistoryEntry {
  return { created: epochTime(epoch), created_by: historyText(layer), comment: layer.kind };
}

export function epochTime(epoch: number): string {
  return new Date(epoch * 1000).toISOString();
}

/** The config an image of `spec` gets (all but rootfs and history): every value from the spec. */
export function imageConfig(spec: Spec, debianArch: string, epoch: number): ImageParts["config"] {
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
  return {
    created: epochTime(epoch),
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: "linux",
    config: runConfig,
  };
}
