import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { readRegularFile, writeFileAtomic } from "../util/fs.js";
import type { LayerScan } from "./layer-scan.js";
import type { LayerScanCache } from "./overlay.js";

/**
 * What an SBOM needs from each layer (its dpkg records, licences, os-release), kept per layer digest
 * under the cache root: kept as strata writes the layer (src/layers/write-layer.ts), so a build, cold or
 * warm, attaches SBOMs without reading a layer; a layer strata did not make is read for it once,
 * by the first `strata sbom` of an image that holds it.
 *
 * The entries are a function of the layer's bytes and of what the SBOM reads from them: bump
 * DETAILS_VERSION when that changes (details.ts's `keep`, copyright parsing), and old entries are
 * simply not found.
 */
const DETAILS_VERSION = 1;
/** Far beyond the details of any real layer (a few KB, the largest copyright sets tens of KB). */
const MAX_ENTRY_BYTES = 16 << 20;
const LAYER_DIGEST = /^sha256:([0-9a-f]{64})$/;

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === "string");
}

/** A cached entry, or undefined when it is not there or not one (it is then made again). */
function parseEntry<T>(bytes: Buffer): LayerScan<T> | undefined {
  try {
    const v = JSON.parse(bytes.toString("utf8")) as LayerScan<T>;
    const kept = Array.isArray(v?.kept) && v.kept.every((k) => Array.isArray(k) && typeof k[0] === "string");
    return isStrings(v.hidden) && isStrings(v.opaque) && isStrings(v.replaced) && kept ? v : undefined;
  } catch {
    return undefined;
  }
}

export function layerDetailsCache<T>(root: string): LayerScanCache<T> {
  const dir = join(root, "layer-details", `v${DETAILS_VERSION}`);
  const file = (digest: string) => {
    const hex = LAYER_DIGEST.exec(digest)?.[1];
    return hex === undefined ? undefined : join(dir, `${hex}.json`);
  };
  return {
    async get(digest) {
      const path = file(digest);
      if (path === undefined) return undefined;
      const bytes = await readRegularFile(path, MAX_ENTRY_BYTES).catch(() => undefined);
      return bytes && parseEntry<T>(bytes);
    },
    async put(digest, scan) {
      const path = file(digest);
      if (path === undefined) return;
      // A cache that cannot be written costs a layer read next time, never the answer.
      await mkdir(dir, { recursive: true })
        .then(() => writeFileAtomic(path, JSON.stringify(scan)))
        .catch(() => {});
    },
  };
}
