import { StrataError } from "../util/errors.js";

/** OCI image-spec v1.1 and Docker v2 schema 2 wire types, as strata reads and writes them. */

export const MediaType = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ociLayerTar: "application/vnd.oci.image.layer.v1.tar",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string; // "sha256:<hex>"
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  comment?: string;
  empty_layer?: boolean;
}

export interface ImageConfig {
  created?: string;
  architecture: string;
  os: string;
  variant?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
    ExposedPorts?: Record<string, Record<string, never>>;
    StopSignal?: string;
  };
  rootfs: { type: "layers"; diff_ids: string[] };
  history?: HistoryEntry[];
}

/** Annotation keys strata puts on layer descriptors and manifests. */
export const Annotation = {
  refName: "org.opencontainers.image.ref.name",
  created: "org.opencontainers.image.created",
  title: "org.opencontainers.image.title",
  /** Space-separated "name=version" of the Debian packages a layer holds. */
  packages: "dev.strata.packages",
  /** What the layer is: "base", "package", "group" or "files". */
  layerKind: "dev.strata.layer.kind",
} as const;

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
}

export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest;
}

/** The largest manifest, index or config strata reads (what registries accept), so JSON is bounded before parsing. */
export const MAX_MANIFEST_BYTES = 4 << 20;

const SHA256_DIGEST = /^sha256:([a-f0-9]{64})$/;

export function isSha256Digest(digest: unknown): digest is string {
  return typeof digest === "string" && SHA256_DIGEST.test(digest);
}

/** The hex of a "sha256:<64 hex>" digest; anything else (a path, another algorithm) is refused. */
export function digestHex(digest: string): string {
  const m = SHA256_DIGEST.exec(digest);
  if (!m) throw new StrataError("IO", `not a sha256 digest: ${JSON.stringify(String(digest).slice(0, 80))}`);
  return m[1];
}

/**
 * Refuses a descriptor read from outside (a layout, an archive, a registry) unless its digest is
 * `sha256:<64 hex>`, its size a whole number and its media type a string, so no name from it can
 * reach a file path and no size from it can drive an allocation unchecked.
 */
export function assertDescriptor(value: unknown, where: string): asserts value is Descriptor {
  const d = value as Partial<Descriptor> | null;
  const problem =
    typeof d !== "object" || d === null
      ? "is not an object"
      : !isSha256Digest(d.digest)
        ? `has digest ${JSON.stringify(String(d.digest).slice(0, 80))}, not sha256:<64 hex digits>`
        : !Number.isSafeInteger(d.size) || (d.size as number) < 0
          ? `${d.digest} has size ${JSON.stringify(d.size)}, not a whole number of bytes`
          : typeof d.mediaType !== "string"
            ? `${d.digest} has no mediaType`
            : undefined;
  if (problem !== undefined) {
    throw new StrataError("IO", `${where}: a descriptor ${problem}`, {
      hint: "the image is damaged or was not written by an OCI tool; rebuild or pull it again",
    });
  }
}

/** `assertDescriptor` for a list that should be an array of descriptors. */
export function assertDescriptors(values: unknown, where: string): asserts values is Descriptor[] {
  if (!Array.isArray(values))
    throw new StrataError("IO", `${where}: the list of descriptors is not an array`);
  for (const value of values) assertDescriptor(value, where);
}
