import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

/** Just enough of the OCI image-spec to count bytes. */
export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
  artifactType?: string;
}

interface ManifestLike {
  mediaType?: string;
  manifests?: Descriptor[];
  config?: Descriptor;
  layers?: Descriptor[];
}

/** One platform image of a layout: its manifest and what it references. */
export interface LayoutImage {
  manifest: Descriptor;
  /** The manifest's bytes length. */
  manifestSize: number;
  config: Descriptor;
  layers: Descriptor[];
  architecture: string;
}

const INDEX_TYPES = new Set([
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
]);

export function blobPath(layout: string, digest: string): string {
  return join(layout, "blobs", "sha256", digest.slice("sha256:".length));
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, "utf8")) as T;
}

/**
 * Every platform image reachable from a layout's index.json (following nested indexes), and the
 * bytes of the index manifests on the way.
 */
export async function layoutImages(layout: string): Promise<{ images: LayoutImage[]; indexBytes: number }> {
  const top = await readJson<ManifestLike>(join(layout, "index.json"));
  const images: LayoutImage[] = [];
  let indexBytes = 0;
  const seen = new Set<string>();
  const visit = async (d: Descriptor): Promise<void> => {
    // Artifacts attached to an image (SBOMs, signatures: an artifactType) are not images.
    if (seen.has(d.digest) || d.artifactType !== undefined) return;
    seen.add(d.digest);
    const doc = await readJson<ManifestLike>(blobPath(layout, d.digest));
    const type = doc.mediaType ?? d.mediaType;
    if ((type !== undefined && INDEX_TYPES.has(type)) || Array.isArray(doc.manifests)) {
      indexBytes += d.size;
      for (const m of doc.manifests ?? []) await visit(m);
      return;
    }
    if (!doc.config || !doc.layers) return; // an artifact that is not an image
    const config = await readJson<{ architecture?: string }>(blobPath(layout, doc.config.digest));
    images.push({
      manifest: d,
      manifestSize: d.size,
      config: doc.config,
      layers: doc.layers,
      architecture: d.platform?.architecture ?? config.architecture ?? "unknown",
    });
  };
  for (const d of top.manifests ?? []) await visit(d);
  return { images, indexBytes };
}

/** Bytes of one image as `docker images` would add them up: config + layers. */
export function imageSize(image: LayoutImage): number {
  return image.config.size + image.layers.reduce((sum, l) => sum + l.size, 0);
}

/** Sum of the sizes of the blob `data` files a distribution registry keeps under its storage dir. */
export async function registryBlobBytes(storageDir: string): Promise<{ bytes: number; blobs: number }> {
  const root = join(storageDir, "docker", "registry", "v2", "blobs");
  let bytes = 0;
  let blobs = 0;
  const walk = async (dir: string): Promise<void> => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && e.name === "data") {
        bytes += (await stat(p)).size;
        blobs++;
      }
    }
  };
  await walk(root);
  return { bytes, blobs };
}
