import { posix } from "node:path";
import type { Image } from "../oci/image.js";
import { StrataError } from "../util/errors.js";
import { isStrataImage } from "./annotations.js";
import type { Licence } from "./copyright.js";
import { layerDetailsCache } from "./details-cache.js";
import { packagesOfRecords } from "./dpkg-records.js";
import { byNameAndArch, type Inventory, readInventory } from "./inventory.js";
import { DOC, type Found, layerDetailsScan } from "./layer-details.js";
import { DEBIAN_VERSION_PATH, OS_RELEASE_PATHS, type OsRelease, withDebianVersion } from "./os-release.js";
import { type Kept, scanOverlay } from "./overlay.js";
import type { InventoryPackage } from "./package.js";

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
  const cache = opts.cacheRoot === undefined ? undefined : layerDetailsCache<Found>(opts.cacheRoot);
  const found = await scanOverlay<Found>(image, where, layerDetailsScan(where), cache);
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
