import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { FACTS_VERSION } from "../effects/package-facts.js";
import { type Compression, compressionIdentity } from "../oci/compress.js";
import { digestHex } from "../oci/types.js";
import { type ContentStore, cacheStore } from "../util/cas.js";
import { writeFileAtomic } from "../util/fs.js";
import { sha256Hex } from "../util/hash.js";
import {
  buildPackageLayer,
  LAYER_FORMAT_VERSION,
  type PackageLayerInput,
  type PackageLayerRecord,
} from "./layer.js";

/**
 * Remembers which layer a .deb became, so a warm build decompresses nothing. An entry is
 * `<cacheRoot>/layers/<sha256 of the key>.json`; the key holds everything that decides the layer's
 * bytes (the .deb's sha256, epoch, keepDocs, LAYER_FORMAT_VERSION, compression identity) and the
 * version of what a record holds (FACTS_VERSION). An entry is trusted only while its blob is in the
 * ContentStore with the recorded size and hash; anything else (missing or corrupt blob, unreadable
 * JSON) drops the entry and is a miss.
 */
export interface LayerCacheKey {
  /** The .deb's sha256, or for a group layer the sha256 of its members' sorted sha256s. */
  debSha256: string;
  epoch: number;
  keepDocs: boolean;
  compression: Compression;
}

export class LayerCache {
  private readonly store: ContentStore;

  constructor(
    /** The cache root: its records are under layers/, and what else is kept per layer beside them. */
    readonly cacheRoot: string,
    storeRoot: string,
  ) {
    this.store = cacheStore(storeRoot);
  }

  /** The canonical text of a key: fixed field order, so equal keys hash equally. */
  static keyText(key: LayerCacheKey): string {
    return JSON.stringify({
      format: LAYER_FORMAT_VERSION,
      facts: FACTS_VERSION,
      deb: key.debSha256,
      epoch: key.epoch,
      keepDocs: key.keepDocs,
      compression: compressionIdentity(key.compression),
    });
  }

  entryPath(key: LayerCacheKey): string {
    return join(this.cacheRoot, "layers", `${sha256Hex(LayerCache.keyText(key))}.json`);
  }

  async get(key: LayerCacheKey): Promise<PackageLayerRecord | undefined> {
    const path = this.entryPath(key);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch {
      return undefined;
    }
    const record = parseEntry(text, LayerCache.keyText(key));
    if (record && (await this.store.has(digestHex(record.digest), { verify: true, size: record.size }))) {
      return record;
    }
    await rm(path, { force: true });
    return undefined;
  }

  async put(key: LayerCacheKey, record: PackageLayerRecord): Promise<void> {
    const entry: CacheEntry = { key: LayerCache.keyText(key), record };
    await writeFileAtomic(this.entryPath(key), `${JSON.stringify(entry)}\n`);
  }

  /** The cached layer of a .deb, or builds it (with `build`, e.g. in a worker) and caches it. */
  async getOrBuild(
    input: PackageLayerInput,
    build: (input: PackageLayerInput) => Promise<PackageLayerRecord> = buildPackageLayer,
  ): Promise<{ record: PackageLayerRecord; cached: boolean }> {
    const key: LayerCacheKey = {
      debSha256: input.debSha256,
      epoch: input.epoch,
      keepDocs: input.keepDocs,
      compression: input.compression,
    };
    const hit = await this.get(key);
    if (hit) return { record: hit, cached: true };
    const record = await build(input);
    await this.put(key, record);
    return { record, cached: false };
  }
}

/** What an entry file holds: the key text (a check against hash collisions and stray files) and the record. */
interface CacheEntry {
  key: string;
  record: PackageLayerRecord;
}

function parseEntry(text: string, keyText: string): PackageLayerRecord | undefined {
  let entry: CacheEntry;
  try {
    entry = JSON.parse(text) as CacheEntry;
  } catch {
    return undefined;
  }
  const r = entry?.record;
  const valid =
    entry?.key === keyText &&
    typeof r === "object" &&
    r !== null &&
    /^sha256:[a-f0-9]{64}$/.test(r.digest) &&
    /^sha256:[a-f0-9]{64}$/.test(r.diffId) &&
    Number.isSafeInteger(r.size) &&
    typeof r.mediaType === "string" &&
    Array.isArray(r.files) &&
    Array.isArray(r.dirs) &&
    Array.isArray(r.members) &&
    (r.factsAnnotation === undefined || typeof r.factsAnnotation === "string") &&
    r.members.every(
      (m) =>
        typeof m.package === "string" &&
        Array.isArray(m.scripts) &&
        Array.isArray(m.replaces) &&
        Array.isArray(m.paths) &&
        typeof m.maintainerScripts === "object" &&
        typeof m.bodies === "object" &&
        m.bodies !== null &&
        Object.values(m.bodies).every((h) => typeof h === "string" && /^[a-f0-9]{64}$/.test(h)),
    );
  return valid ? r : undefined;
}
