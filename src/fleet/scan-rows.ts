import { allIn, type Db } from "../database/db.js";
import { fleetSelection, type IndexedImage, imagesIn } from "./lookups.js";

/** A distinct package row of the index, by its id. */
export interface PackageRow {
  id: number;
  name: string;
  version: string;
  source: string;
  source_version: string;
}

/** What a whole-fleet scan reads of the index before it matches anything, keyed by manifest id. */
export interface FleetScanRows {
  /** The images a ref names (with `all`, superseded ones too). */
  images: Map<number, IndexedImage>;
  /** The base-files version each image shows, when it shows one (the image's release). */
  baseFiles: Map<number, string>;
  /** Every manifest id in the index (an image with no base-files has no release but still counts). */
  manifestIds: number[];
  /** Every distinct package, once, whichever images hold it. */
  packages: PackageRow[];
  /** How many packages each image shows. */
  packageCounts: Map<number, number>;
  /** The images strata built (their packages learnt from annotations, nothing read). */
  builtByStrata: Set<number>;
}

export async function fleetScanRows(db: Db, opts: { all?: boolean }): Promise<FleetScanRows> {
  const manifests = await db.all<{ id: number; packages_from: string }>(
    "SELECT id, packages_from FROM manifests",
  );
  const baseFiles = await db.all<{ manifest_id: number; version: string }>(
    `SELECT ip.manifest_id, p.version FROM image_packages ip JOIN packages p ON p.id = ip.package_id
      WHERE p.name = 'base-files'`,
  );
  const counts = await db.all<{ manifest_id: number; n: number }>(
    "SELECT manifest_id, COUNT(*) AS n FROM image_packages GROUP BY manifest_id",
  );
  return {
    images: await imagesIn(db, fleetSelection(opts)),
    baseFiles: new Map(baseFiles.map((r) => [Number(r.manifest_id), r.version])),
    manifestIds: manifests.map((m) => Number(m.id)),
    packages: await db.all<PackageRow>(
      "SELECT p.id, p.name, p.version, p.source, p.source_version FROM packages p",
    ),
    packageCounts: new Map(counts.map((c) => [Number(c.manifest_id), Number(c.n)])),
    builtByStrata: new Set(
      manifests.filter((m) => m.packages_from === "annotations").map((m) => Number(m.id)),
    ),
  };
}

/** Which images hold which of these packages (by id), each pair once. */
export function holdersOf(
  db: Db,
  packageIds: number[],
): Promise<{ manifest_id: number; package_id: number }[]> {
  return allIn(
    db,
    "SELECT DISTINCT manifest_id, package_id FROM image_packages WHERE package_id IN (@ids)",
    packageIds,
  );
}
