import { posix } from "node:path";
import { pipeline } from "node:stream/promises";
import type tarStream from "tar-stream";
import { decompressor, type TarCompression } from "../debian/deb.js";
import type { BlobSource } from "../oci/image.js";
import type { Descriptor } from "../oci/types.js";
import { isStrataError, StrataError } from "../util/errors.js";
import { lazyModule } from "../util/lazy.js";

/**
 * A layer's tar entries, streamed from the blob (verified against its digest as it is read) through
 * its decompressor: nothing is unpacked to disk, and a body is held only when the visitor asks for
 * it, up to a cap.
 */

const tarStreams = lazyModule<typeof tarStream>("tar-stream");

export interface VisitedEntry {
  /** Normalised: relative, no "./", no trailing "/". */
  path: string;
  type: tarStream.Header["type"];
  /** The body's size in bytes, as the tar header says. */
  size: number;
  /** A symlink's or hardlink's target, as written in the tar. */
  linkname?: string;
  /** Reads the entry's body, refusing one over `max` bytes. */
  body(max: number): Promise<Buffer>;
}

/** The compression a layer's media type names; an unknown one is an error, never a guess. */
export function layerCompression(layer: Descriptor, where: string): TarCompression {
  const type = layer.mediaType;
  if (/[.+]gzip$/.test(type)) return "gz";
  if (/\+zstd$/.test(type)) return "zst";
  if (/[./]tar$/.test(type)) return "none";
  throw new StrataError(
    "IO",
    `${where}: layer ${layer.digest} has media type ${type}, not a tar strata reads`,
    {
      hint: "layers are read as tar, tar+gzip or tar+zstd",
    },
  );
}

function layerPath(name: string, where: string): string {
  const path = posix.normalize(name.replace(/^\/+/, "")).replace(/\/$/, "");
  if (path === ".." || path.startsWith("../"))
    throw new StrataError("UNSAFE_PATH", `${where}: layer entry "${name.slice(0, 200)}" leaves the root`);
  return path === "." ? "" : path;
}

async function readBody(
  entry: AsyncIterable<unknown>,
  size: number,
  max: number,
  what: string,
): Promise<Buffer> {
  if (size > max) throw new StrataError("IO", `${what} is ${size} bytes, more than the ${max} read`);
  const chunks: Buffer[] = [];
  for await (const chunk of entry) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Calls `visit` for each entry of `layer`, in tar order. */
export async function visitLayer(
  image: { blobs: BlobSource },
  layer: Descriptor,
  where: string,
  visit: (entry: VisitedEntry) => Promise<void> | void,
): Promise<void> {
  const extract = tarStreams().extract();
  const feeding = pipeline(
    await image.blobs.open(layer.digest),
    decompressor(layerCompression(layer, where)),
    extract,
  );
  feeding.catch(() => {}); // a failure destroys `extract`, which the loop reports
  try {
    for await (const entry of extract) {
      const path = layerPath(entry.header.name, where);
      let read = false;
      await visit({
        path,
        type: entry.header.type,
        size: entry.header.size ?? 0,
        ...(entry.header.linkname ? { linkname: entry.header.linkname } : {}),
        body: (max) => {
          read = true;
          return readBody(entry, entry.header.size ?? 0, max, `${where}: ${layer.digest}: ${path}`);
        },
      });
      if (!read) entry.resume();
    }
    await feeding;
  } catch (err) {
    if (isStrataError(err)) throw err;
    throw new StrataError(
      "IO",
      `${where}: layer ${layer.digest} is not a readable tar (${(err as Error).message})`,
    );
  } finally {
    extract.destroy();
  }
}
