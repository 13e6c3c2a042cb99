import { posix } from "node:path";
import type { Image } from "../oci/image.js";
import { StrataError } from "../util/errors.js";
import { type LayerEntry, visitLayer } from "./layer-entries.js";
import { type InventoryPackage, type PackageFacts, packagesFromStatus } from "./package.js";

/**
 * The dpkg records a container of an image sees: `var/lib/dpkg/status.d/*` (distroless and strata)
 * and `var/lib/dpkg/status` (dpkg itself), read from the layers bottom up with OCI whiteouts applied
 * as an overlay mount would: `.wh.NAME` hides NAME of lower layers, `.wh..wh..opq` hides everything
 * lower in its directory, and an entry of an upper layer replaces the same path (a non-directory
 * also hides what was below it). Only paths under var/lib/dpkg are tracked; the layers are streamed.
 */

const DPKG = "var/lib/dpkg";
const STATUS = `${DPKG}/status`;
const STATUS_D = `${DPKG}/status.d`;
const MAX_STATUS_BYTES = 64 << 20;
const MAX_RECORD_BYTES = 1 << 20;
const MAX_PACKAGES = 100_000;

interface DpkgRecord {
  layer: { index: number; digest: string };
  packages: PackageFacts[];
}

/** What one layer does to the paths below it, and the records it brings. */
interface LayerChanges {
  /** Paths this layer hides, with everything under them: whiteouts, and non-directories placed over them. */
  hidden: string[];
  /** Directories made opaque: everything under them from lower layers is hidden. */
  opaque: string[];
  /** Paths this layer puts anything at (a directory over a file replaces it too). */
  replaced: string[];
  records: Map<string, PackageFacts[]>;
}

/** Whether a path can bear on var/lib/dpkg: an ancestor of it, or inside it. */
function bearsOnDpkg(path: string): boolean {
  return path === "" || `${DPKG}/`.startsWith(`${path}/`) || path.startsWith(`${DPKG}/`) || path === DPKG;
}

function isRecordPath(path: string): boolean {
  if (path === STATUS) return true;
  const name = path.slice(STATUS_D.length + 1);
  return posix.dirname(path) === STATUS_D && !name.startsWith(".") && !name.endsWith(".md5sums");
}

async function noteEntry(entry: LayerEntry, changes: LayerChanges, where: string): Promise<void> {
  const dir = posix.dirname(entry.path) === "." ? "" : posix.dirname(entry.path);
  const base = posix.basename(entry.path);
  if (base === ".wh..wh..opq") {
    if (bearsOnDpkg(dir)) changes.opaque.push(dir);
    return;
  }
  if (base.startsWith(".wh.")) {
    const hidden = dir === "" ? base.slice(4) : `${dir}/${base.slice(4)}`;
    if (bearsOnDpkg(hidden)) changes.hidden.push(hidden);
    return;
  }
  if (!bearsOnDpkg(entry.path)) return;
  changes.replaced.push(entry.path);
  if (entry.type !== "directory") changes.hidden.push(entry.path);
  if (entry.type !== "file" || !isRecordPath(entry.path)) return;
  const max = entry.path === STATUS ? MAX_STATUS_BYTES : MAX_RECORD_BYTES;
  const text = (await entry.body(max)).toString("utf8");
  changes.records.set(entry.path, packagesFromStatus(text, `${where}: /${entry.path}`));
  if (changes.records.size > MAX_PACKAGES)
    throw new StrataError("IO", `${where}: a layer with more than ${MAX_PACKAGES} dpkg records`);
}

function under(path: string, dir: string): boolean {
  return dir === "" || path.startsWith(`${dir}/`);
}

/** Applies one layer's changes to the records seen below it. */
function applyChanges(
  seen: Map<string, DpkgRecord>,
  changes: LayerChanges,
  layer: DpkgRecord["layer"],
): void {
  for (const path of [...seen.keys()]) {
    const gone =
      changes.replaced.includes(path) ||
      changes.hidden.some((h) => path === h || under(path, h)) ||
      changes.opaque.some((dir) => under(path, dir));
    if (gone) seen.delete(path);
  }
  for (const [path, packages] of changes.records) seen.set(path, { layer, packages });
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
  const seen = new Map<string, DpkgRecord>();
  for (const [index, layer] of image.manifest.layers.entries()) {
    if (only !== undefined && !only(index)) continue;
    const changes: LayerChanges = { hidden: [], opaque: [], replaced: [], records: new Map() };
    await visitLayer(image, layer, where, (entry) => noteEntry(entry, changes, where));
    applyChanges(seen, changes, { index, digest: layer.digest });
    const count = [...seen.values()].reduce((n, r) => n + r.packages.length, 0);
    if (count > MAX_PACKAGES)
      throw new StrataError("IO", `${where}: more than ${MAX_PACKAGES} packages in its dpkg records`);
  }
  // One package per name and architecture (multi-arch packages may share a name); status.d first.
  const found = new Map<string, InventoryPackage>();
  const records = [...seen.entries()].sort(([a], [b]) => Number(a === STATUS) - Number(b === STATUS));
  for (const [path, record] of records) {
    for (const facts of record.packages) {
      const key = `${facts.name}:${facts.architecture ?? ""}`;
      if (found.has(key)) continue;
      found.set(key, { ...facts, layer: record.layer, from: path === STATUS ? "status" : "status.d" });
    }
  }
  return [...found.values()];
}
