import { visitLayer } from "../inventory/layer-entries.js";
import type { BlobSource } from "../oci/image.js";

/** What reading a package layer's files needs: its members' names, its blob, and where its bytes are. */
interface ReadableLayer {
  members: { package: string }[];
  blob: { digest: string; size: number; mediaType: string };
  bytes: BlobSource;
}

/** The most bytes of one file read back from a layer for scripts (real helpers are kilobytes). */
const MAX_FILE_BYTES = 1 << 20;

/**
 * Reads files of a package's layer back from its blob (local or where the image keeps it): the
 * bytes other packages' scripts read that the package's own facts did not record. Files over
 * MAX_FILE_BYTES and paths the layer does not hold as regular files are left out.
 */
export function layerFileReader(
  layers: ReadableLayer[],
  where: string,
): (pkg: string, paths: string[]) => Promise<Map<string, Buffer>> {
  return async (pkg, paths) => {
    const found = new Map<string, Buffer>();
    const layer = layers.find((l) => l.members.some((m) => m.package === pkg));
    if (layer === undefined) return found;
    const wanted = new Set(paths);
    const { digest, size, mediaType } = layer.blob;
    await visitLayer({ blobs: layer.bytes }, { digest, size, mediaType }, where, async (entry) => {
      if (entry.type === "file" && wanted.has(entry.path) && entry.size <= MAX_FILE_BYTES)
        found.set(entry.path, await entry.body(MAX_FILE_BYTES));
    });
    return found;
  };
}
