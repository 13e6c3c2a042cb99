import type { Advisory } from "../advisories/advisory.js";
import { type ReleaseCoverage, releaseCoverage } from "../advisories/coverage.js";
import {
  type Finding,
  type InstalledPackage,
  matchAdvisories,
  releaseOfPackages,
} from "../advisories/match.js";
import { advisoriesOfRelease, allIn, coverageOf, storedVersions } from "../advisories/store.js";
import type { Db } from "../database/db.js";
import { fleetSelection, imagesIn } from "../fleet/lookups.js";
import { withFixes } from "./fix-hint.js";
import type { ImageScan } from "./scan.js";

interface PackageRow {
  id: number;
  name: string;
  version: string;
  source: string;
  source_version: string;
}

/** Each image's release, from the base-files it shows (`fallback` when it has none). */
async function imageReleases(db: Db, fallback?: string): Promise<Map<number, string | undefined>> {
  const manifests = await db.all<{ id: number }>("SELECT id FROM manifests");
  const releases = new Map<number, string | undefined>(manifests.map((m) => [Number(m.id), fallback]));
  const rows = await db.all<{ manifest_id: number; version: string }>(
    `SELECT ip.manifest_id, p.version FROM image_packages ip JOIN packages p ON p.id = ip.package_id
      WHERE p.name = 'base-files'`,
  );
  for (const r of rows)
    releases.set(Number(r.manifest_id), releaseOfPackages([{ name: "base-files", version: r.version }]));
  return releases;
}

/** Findings per package id for one release: every distinct package is matched once, not once per image. */
async function findingsByPackage(
  db: Db,
  release: string,
  packages: PackageRow[],
): Promise<Map<number, Finding[]>> {
  const advisories = await advisoriesOfRelease(db, release);
  const bySource = new Map<string, Advisory[]>();
  for (const a of advisories) bySource.get(a.source)?.push(a) ?? bySource.set(a.source, [a]);
  const candidates = packages.filter((p) => bySource.has(p.source || p.name));
  const available = await storedVersions(
    db,
    candidates.map((p) => p.name),
  );
  const out = new Map<number, Finding[]>();
  for (const p of candidates) {
    const pkg: InstalledPackage = {
      name: p.name,
      version: p.version,
      source: p.source || p.name,
      sourceVersion: p.source_version || p.version,
    };
    const findings = matchAdvisories([pkg], bySource.get(pkg.source)!, available);
    if (findings.length > 0) out.set(Number(p.id), findings);
  }
  return out;
}

/**
 * Scans the index's images from the database alone (no image is read): the stored feeds'
 * advisories and changelog evidence against the packages each image shows. Superseded images (no
 * tag names them any more) are left out unless `all`.
 */
export async function scanFleet(
  db: Db,
  opts: { release?: string; all?: boolean } = {},
): Promise<ImageScan[]> {
  const releases = await imageReleases(db, opts.release);
  const packages = await db.all<PackageRow>(
    "SELECT p.id, p.name, p.version, p.source, p.source_version FROM packages p",
  );
  const perRelease = new Map<string, Map<number, Finding[]>>();
  const coverage = new Map<string, ReleaseCoverage>();
  for (const release of new Set([...releases.values()].filter((r) => r !== undefined))) {
    perRelease.set(release, await findingsByPackage(db, release, packages));
    coverage.set(release, releaseCoverage(release, await coverageOf(db, release)));
  }
  const vulnerableIds = [...new Set([...perRelease.values()].flatMap((m) => [...m.keys()]))];
  const holding = await allIn<{ manifest_id: number; package_id: number }>(
    db,
    "SELECT DISTINCT manifest_id, package_id FROM image_packages WHERE package_id IN (@ids)",
    vulnerableIds,
  );
  const counts = await db.all<{ manifest_id: number; n: number }>(
    "SELECT manifest_id, COUNT(*) AS n FROM image_packages GROUP BY manifest_id",
  );
  const images = await imagesIn(db, fleetSelection(opts));
  const fromRows = await db.all<{ id: number; packages_from: string }>(
    "SELECT id, packages_from FROM manifests",
  );
  const strata = new Set(fromRows.filter((r) => r.packages_from === "annotations").map((r) => Number(r.id)));
  const scans = new Map<number, ImageScan>();
  // Images named in a registry are updated as docker://REF; local homes by their own name.
  const registryRefs = new Set<number>();
  for (const [id, image] of images) {
    const ref = image.refs[0];
    if (ref?.registry) registryRefs.add(Number(id));
    const name = ref
      ? `${ref.registry ? `${ref.registry}/` : ""}${ref.repository}${ref.tag ? `:${ref.tag}` : ""}`
      : image.digest;
    const release = releases.get(Number(id)) ?? "unknown";
    scans.set(Number(id), {
      reference: name,
      digest: image.digest,
      release,
      builtByStrata: strata.has(Number(id)),
      packages: [],
      packageCount: 0,
      findings: [],
      suppressed: [],
      trimmed: [],
      coverage: coverage.get(release) ?? releaseCoverage(release, []),
      ...(image.superseded ? { superseded: true } : {}),
    });
  }
  for (const c of counts) {
    const scan = scans.get(Number(c.manifest_id));
    if (scan) scan.packageCount = Number(c.n);
  }
  for (const h of holding) {
    const scan = scans.get(Number(h.manifest_id));
    const found = scan && perRelease.get(scan.release)?.get(Number(h.package_id));
    if (found) for (const finding of found) scan.findings.push(finding);
  }
  for (const [id, scan] of scans) {
    const location = registryRefs.has(id) ? `docker://${scan.reference}` : scan.reference;
    scan.findings = withFixes(scan.findings, { location, builtByStrata: scan.builtByStrata });
  }
  for (const scan of scans.values())
    scan.findings.sort((a, b) => a.package.localeCompare(b.package, "en") || a.id.localeCompare(b.id, "en"));
  return [...scans.values()];
}
