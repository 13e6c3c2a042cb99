import { posix } from "node:path";
import type { Image } from "../oci/image.js";
import { StrataError } from "../util/errors.js";
import { isStrataImage } from "./annotations.js";
import { copyrightLicence, type Licence } from "./copyright.js";
import { layerDetailsCache } from "./details-cache.js";
import { DPKG_ROOT, dpkgRecord, MAX_PACKAGES, packagesOfRecords } from "./dpkg-records.js";
import { byNameAndArch, type Inventory, readInventory } from "./inventory.js";
import type { LayerEntry } from "./layer-entries.js";
import {
  DEBIAN_VERSION_PATH,
  MAX_DEBIAN_VERSION_BYTES,
  MAX_OS_RELEASE_BYTES,
  OS_RELEASE_PATHS,
  type OsRelease,
  parseOsRelease,
  withDebianVersion,
} from "./os-release.js";
import { type Kept, scanOverlay } from "./overlay.js";
import type { InventoryPackage, PackageFacts } from "./package.js";

/**
 * The inventory with what an SBOM needs besides: each package's dependencies (its dpkg record),
 * its licences (its machine-readable copyright file) and the image's distribution (os-release and
 * debian_version),
 * all from one streamed pass over the layers with whiteouts applied.
 */

export interface PackageDetails extends InventoryPackage {
  licence?: Licence;
}

export interface ImageDetails {
  packages: PackageDetails[];
  from: Inventory["from"];
  os?: OsRelease;
}

const DOC = "usr/share/doc";
/** Far beyond any real copyright file (the largest in Debian are a few MB); a bigger one is skipped. */
const MAX_COPYRIGHT_BYTES = 8 << 20;

type Found =
  | { kind: "dpkg"; packages: PackageFacts[] }
  | { kind: "copyright"; licence?: Licence }
  | { kind: "doc-link"; target: string }
  | { kind: "os-release"; release?: OsRelease }
  | { kind: "debian-version"; text?: string };

async function keep(entry: LayerEntry, where: string): Promise<Found | undefined> {
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

/** The licence in a package's doc directory, following the one symlink Debian uses to share one. */
function licenceOf(name: string, found: Map<string, Kept<Found>>): Licence | undefined {
  const copyright = (dir: string) => {
    const kept = found.get(`${DOC}/${dir}/copyright`)?.value;
    return kept?.kind === "copyright" ? kept.licence : undefined;
  };
  const link = found.get(`${DOC}/${name}`)?.value;
  if (link?.kind !== "doc-link") return copyright(name);
  const target = posix.relative(`/${DOC}`, posix.resolve(`/${DOC}`, link.target));
  return target.includes("/") || target.startsWith("..") ? undefined : copyright(target);
}

function osRelease(found: Map<string, Kept<Found>>): OsRelease | undefined {
  const debianVersion = found.get(DEBIAN_VERSION_PATH)?.value;
  for (const path of OS_RELEASE_PATHS) {
    const kept = found.get(path)?.value;
    if (kept?.kind === "os-release" && kept.release !== undefined)
      return withDebianVersion(
        kept.release,
        debianVersion?.kind === "debian-version" ? debianVersion.text : undefined,
      );
  }
  return undefined;
}

/** A strata image's annotated packages, with the relations their own status.d records add. */
function withRecords(annotated: InventoryPackage[], recorded: InventoryPackage[]): InventoryPackage[] {
  const byKey = new Map(recorded.map((p) => [`${p.name}=${p.version}`, p]));
  return annotated.map((p) => {
    const record = byKey.get(`${p.name}=${p.version}`);
    if (record === undefined) return p;
    const { architecture, source, sourceVersion, depends, provides } = record;
    return { architecture, source, sourceVersion, ...p, depends, provides };
  });
}

export interface DetailsOptions {
  /** The cache root whose per-layer details spare reading a layer twice; none: every layer is read. */
  cacheRoot?: string;
}

/** The packages of `image` with their relations and licences, and its distribution. */
export async function readImageDetails(
  image: Image,
  where: string,
  opts: DetailsOptions = {},
): Promise<ImageDetails> {
  const scan = {
    roots: [DPKG_ROOT, DOC, ...OS_RELEASE_PATHS, DEBIAN_VERSION_PATH],
    keep: (entry: LayerEntry) => keep(entry, where),
    maxKept: 4 * MAX_PACKAGES,
  };
  const cache = opts.cacheRoot === undefined ? undefined : layerDetailsCache<Found>(opts.cacheRoot);
  const found = await scanOverlay<Found>(image, where, scan, cache);
  const records = [...found].filter(
    (r): r is [string, Kept<Found & { kind: "dpkg" }>] => r[1].value.kind === "dpkg",
  );
  const recorded = packagesOfRecords(records.map(([path, r]) => [path, { ...r, value: r.value.packages }]));
  const strata = isStrataImage(image.manifest.layers);
  const packages = strata ? withRecords((await readInventory(image, where)).packages, recorded) : recorded;
  if (packages.length === 0) {
    throw new StrataError("IO", `${where}: the image holds no Debian packages`, {
      hint: "an SBOM lists the packages of var/lib/dpkg/status or status.d; this image has neither",
    });
  }
  return {
    packages: packages.map((p) => ({ ...p, licence: licenceOf(p.name, found) })).sort(byNameAndArch),
    from: strata ? "annotations" : "layers",
    os: osRelease(found),
  };
}
