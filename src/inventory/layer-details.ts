import { isStrataError } from "../util/errors.js";
import { copyrightLicence, type Licence } from "./copyright.js";
import { layerDetailsCache } from "./details-cache.js";
import { DPKG_ROOT, dpkgRecord, MAX_PACKAGES } from "./dpkg-records.js";
import type { VisitedEntry } from "./layer-entries.js";
import { type EntryScan, LayerScanner } from "./layer-scan.js";
import {
  DEBIAN_VERSION_PATH,
  MAX_DEBIAN_VERSION_BYTES,
  MAX_OS_RELEASE_BYTES,
  OS_RELEASE_PATHS,
  type OsRelease,
  parseOsRelease,
} from "./os-release.js";
import type { PackageIdentity } from "./package.js";

/**
 * What an SBOM reads from one layer (dpkg records, doc symlinks and copyright files, os-release and
 * debian_version), and its keeping in the details cache as the layer is made: a cold build's SBOMs
 * then read no layer either (src/inventory/details.ts puts the layers' details together).
 */

export const DOC = "usr/share/doc";
/** Far beyond any real copyright file (the largest in Debian are a few MB); a bigger one is skipped. */
const MAX_COPYRIGHT_BYTES = 8 << 20;

export type Found =
  | { kind: "dpkg"; packages: PackageIdentity[] }
  | { kind: "copyright"; licence?: Licence }
  | { kind: "doc-link"; target: string }
  | { kind: "os-release"; release?: OsRelease }
  | { kind: "debian-version"; text?: string };

async function keep(entry: VisitedEntry, where: string): Promise<Found | undefined> {
  if (entry.path.startsWith(`${DPKG_ROOT}/`)) {
    const packages = await dpkgRecord(entry, where);
    return packages && { kind: "dpkg", packages };
  }
  if (OS_RELEASE_PATHS.includes(entry.path) && entry.type === "file") {
    const text = (await entry.body(MAX_OS_RELEASE_BYTES)).toString("utf8");
    return { kind: "os-release", release: parseOsRelease(text) };
  }
  if (entry.path === DEBIAN_VERSION_PATH && entry.type === "file") {
    if (entry.size > MAX_DEBIAN_VERSION_BYTES) return { kind: "debian-version" };
    return { kind: "debian-version", text: (await entry.body(MAX_DEBIAN_VERSION_BYTES)).toString("utf8") };
  }
  const parts = entry.path.slice(DOC.length + 1).split("/");
  if (parts.length === 1 && entry.type === "symlink" && entry.linkname)
    return { kind: "doc-link", target: entry.linkname };
  if (parts.length !== 2 || parts[1] !== "copyright" || entry.type !== "file") return undefined;
  if (entry.size > MAX_COPYRIGHT_BYTES) return { kind: "copyright" };
  return { kind: "copyright", licence: copyrightLicence((await entry.body(MAX_COPYRIGHT_BYTES)).toString()) };
}

/** The scan of a layer for its SBOM details; `where` names the image or layer in errors. */
export function layerDetailsScan(where: string): EntryScan<Found> {
  return {
    roots: [DPKG_ROOT, DOC, ...OS_RELEASE_PATHS, DEBIAN_VERSION_PATH],
    keep: (entry: VisitedEntry) => keep(entry, where),
    maxKept: 4 * MAX_PACKAGES,
  };
}

/**
 * Keeps the details of the layer `digest` under `cacheRoot`, from its entries as a reader of its
 * tar would see them, in tar order. Entries the scan refuses keep nothing: reading the layer later
 * meets the error itself, as it would have without this.
 */
export async function keepLayerDetails(
  digest: string,
  entries: Iterable<VisitedEntry>,
  cacheRoot: string,
  what: string,
): Promise<void> {
  const scanner = new LayerScanner(layerDetailsScan(what), `${what}: layer ${digest}`);
  try {
    for (const entry of entries) await scanner.add(entry);
  } catch (err) {
    if (isStrataError(err)) return;
    throw err;
  }
  await layerDetailsCache<Found>(cacheRoot).put(digest, scanner.result());
}
