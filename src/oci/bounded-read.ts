import { open } from "node:fs/promises";
import { StrataError } from "../util/errors.js";
import { MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES } from "./parse.js";
import type { Descriptor } from "./types.js";

/**
 * Manifests, indexes, configs and index.json come from files anyone can craft, so their size is
 * judged before a byte is read or a buffer allocated: no more than the largest parse.ts accepts, and
 * exactly what the descriptor that names them says. parse.ts then holds each kind to its own cap.
 */
const MAX_SMALL_BYTES = Math.max(MAX_MANIFEST_BYTES, MAX_CONFIG_BYTES);

/** Where a small file's bytes lie: a whole file, or a member inside an archive. */
export interface Region {
  offset: number;
  size: number;
}

/** Refuses a region larger than the cap or different from the descriptor, before anything is read. */
export function checkRegion(region: Region, descriptor: Descriptor | undefined, what: string): void {
  if (region.size > MAX_SMALL_BYTES) {
    throw new StrataError(
      "IO",
      `${what} is ${region.size} bytes; manifests, indexes and configs over ${MAX_SMALL_BYTES >> 20} MiB are refused`,
    );
  }
  if (descriptor !== undefined && region.size !== descriptor.size) {
    throw new StrataError(
      "SIZE_MISMATCH",
      `${what}: ${region.size} bytes on disk, its descriptor says ${descriptor.size}`,
    );
  }
}

/** Reads `region` of `file` after `checkRegion`; a file shorter than it says is an error, not a short buffer. */
export async function readRegion(
  file: string,
  region: Region,
  descriptor: Descriptor | undefined,
  what: string,
): Promise<Buffer> {
  checkRegion(region, descriptor, what);
  const fh = await open(file, "r");
  try {
    const bytes = Buffer.alloc(region.size);
    const { bytesRead } = await fh.read(bytes, 0, region.size, region.offset);
    if (bytesRead !== region.size) {
      throw new StrataError("SIZE_MISMATCH", `${what}: only ${bytesRead} of ${region.size} bytes are there`);
    }
    return bytes;
  } finally {
    await fh.close();
  }
}
