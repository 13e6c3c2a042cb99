import type { PackageFacts } from "../effects/package-facts.js";
import type { Compression } from "../oci/compress.js";
import type { LayerEntry } from "../oci/layer-entry.js";
import { StrataError } from "../util/errors.js";
import { BodySpool } from "../util/spool.js";
import { type DebToRead, readDebEntries } from "./deb-entries.js";
import { gatherPackageFacts } from "./gather-facts.js";
import { type LayerBlob, writeLayer } from "./write-layer.js";

/**
 * One .deb becomes one layer, byte for byte the same on every run and machine (design.md §1-3).
 *
 * The layer's bytes are a function of: the .deb, the epoch, keepDocs, the compression identity and
 * LAYER_FORMAT_VERSION. Bump the version whenever a change alters any output byte: the .deb reader
 * (deb-entries.ts) or the canonical writer (write-layer.ts).
 *
 * The version is also on every layer descriptor strata writes, and the rebuild check refuses layers of
 * another (4: the descriptors' packages JSON, facts, options and inputs moved to the image record;
 * the bytes did not change; 5: gzip layers are libdeflate-wasm members of 1 MiB pieces, not fflate).
 */
export const LAYER_FORMAT_VERSION = 5;

/** A layer of one package, or of a group of packages when the image is over its layer budget. */
export interface PackageLayerRecord extends LayerBlob {
  members: PackageFacts[];
  /** The members' facts as the image record holds them (src/record/layer-facts.ts), once encoded. */
  factsAnnotation?: string;
}

/** Plain data in, plain data out: callable from a worker thread. */
export interface PackageLayerInput extends DebToRead {
  store: string;
  epoch: number;
  compression: Compression;
  /**
   * The cache root where the .deb's changelog entries (for VEX) and the layer's SBOM details are
   * kept as the layer is made; none: not kept.
   */
  cacheRoot?: string;
}

/** A package's layer entries (data, status.d records) and facts, before they are written. */
export async function packageEntries(
  input: PackageLayerInput,
  spool: BodySpool,
): Promise<{ entries: LayerEntry[]; facts: PackageFacts }> {
  const deb = await readDebEntries(input, spool);
  const facts = await gatherPackageFacts(input, deb);
  return { entries: deb.entries, facts };
}

/**
 * A cached layer is keyed by the .deb's sha256 alone, so a lock that names that .deb differently
 * from its control (checked when the layer was built) is refused here, as a cold build would refuse it.
 */
export function assertLockedMembers(record: PackageLayerRecord, locked: PackageLayerInput["locked"][]): void {
  for (const want of locked) {
    const got = record.members.find((m) => m.package === want.name);
    if (got?.version !== want.version || got.architecture !== want.architecture) {
      const is = got
        ? `${got.package} ${got.version} ${got.architecture}`
        : record.members.map((m) => m.package).join(",");
      throw new StrataError(
        "LOCK_INVALID",
        `the lock says ${want.name} ${want.version} ${want.architecture}, but its .deb is ${is}`,
        { hint: "run `strata lock` to write the lock again" },
      );
    }
  }
}

export async function buildPackageLayer(input: PackageLayerInput): Promise<PackageLayerRecord> {
  const spool = new BodySpool(input.store);
  try {
    const { entries, facts } = await packageEntries(input, spool);
    const blob = await writeLayer(entries, { ...input, what: facts.package });
    return { ...blob, members: [facts] };
  } finally {
    await spool.remove();
  }
}
