import { posix } from "node:path";
import type { Image } from "../oci/image.js";
import { StrataError } from "../util/errors.js";
import type { VisitedEntry } from "./layer-entries.js";
import { type Kept, scanOverlay } from "./overlay.js";
import { type InventoryPackage, type PackageIdentity, packagesFromStatus } from "./package.js";

/**
 * The dpkg records a container of an image sees: `var/lib/dpkg/status.d/*` (distroless and strata)
 * and `var/lib/dpkg/status` (dpkg itself), read through the overlay of the layers (overlay.ts).
 */

export const DPKG_ROOT = "var/lib/dpkg";
const STATUS = `${DPKG_ROOT}/status`;
const STATUS_D = `${DPKG_ROOT}/status.d`;
const MAX_STATUS_BYTES = 64 << 20;
const MAX_RECORD_BYTES = 1 << 20;
export const MAX_PACKAGES = 100_000;

function isRecordPath(path: string): boolean {
  if (path === STATUS) return true;
  const name = path.slice(STATUS_D.length + 1);
  return posix.dirname(path) === STATUS_D && !name.startsWith(".") && !name.endsWith(".md5sums");
}

/** The packages a dpkg record entry holds, or undefined when the entry is no record. */
export async function dpkgRecord(entry: VisitedEntry, where: string): Promise<PackageIdentity[] | undefined> {
  if (entry.type !== "file" || !isRecordPath(entry.path)) return undefined;
  const max = entry.path === STATUS ? MAX_STATUS_BYTES : MAX_RECORD_BYTES;
  const text = (await entry.body(max)).toString("utf8");
  return packagesFromStatus(text, `${where}: /${entry.path}`);
}

/** One package per name and architecture (multi-arch packages may share a name); status.d first. */
export function packagesOfRecords(records: [string, Kept<PackageIdentity[]>][]): InventoryPackage[] {
  const found = new Map<string, InventoryPackage>();
  const ordered = [...records].sort(([a], [b]) => Number(a === STATUS) - Number(b === STATUS));
  for (const [path, record] of ordered) {
    for (const facts of record.value) {
      const key = `${facts.name}:${facts.architecture ?? ""}`;
      if (found.has(key)) continue;
      found.set(key, { ...facts, layer: record.layer, from: path === STATUS ? "status" : "status.d" });
    }
  }
  if (found.size > MAX_PACKAGES)
    throw new StrataError("IO", `more than ${MAX_PACKAGES} packages in an image's dpkg records`);
  return [...found.values()];
}

/**
 * The packages the dpkg records of `image` list: status.d records first, then the status database.
 * With `only`, just those layers are read (each of strata's layers holds its own records).
 */
export async function dpkgPackages(
  image: Image,
  where: string,
  only?: (index: number) => boolean,
): Promise<InventoryPackage[]> {
  const records = await scanOverlay(image, where, {
    roots: [DPKG_ROOT],
    keep: (entry) => dpkgRecord(entry, where),
    maxKept: MAX_PACKAGES,
    only,
  });
  return packagesOfRecords([...records]);
}
