import type { Advisory } from "../advisories/advisory.js";
import { type ReleaseCoverage, releaseCoverage } from "../advisories/coverage.js";
import {
  type Finding,
  type InstalledPackage,
  matchAdvisories,
  releaseOfPackages,
} from "../advisories/match.js";
import type { AdvisoryStore } from "../advisories/store.js";
import type { FleetIndex } from "../fleet/fleet-index.js";
import type { FleetScanRows, PackageRow } from "../fleet/scan-rows.js";
import { withFixes } from "./fix-hint.js";
import type { ImageScan } from "./scan.js";

/** Each image's release, from the base-files it shows (`fallback` when it has none). */
function imageReleases(rows: FleetScanRows, fallback?: string): Map<number, string | undefined> {
  const releases = new Map<number, string | undefined>(rows.manifestIds.map((id) => [id, fallback]));
  for (const [id, version] of rows.baseFiles)
    releases.set(id, releaseOfPackages([{ name: "base-files", version }]));
  return releases;
}

/** Findings per package id for one release: every distinct package is matched once, not once per image. */
async function findingsByPackage(
  store: AdvisoryStore,
  release: string,
  packages: PackageRow[],
): Promise<Map<number, Finding[]>> {
  const advisories = await store.ofRelease(release);
  const bySource = new Map<string, Advisory[]>();
  for (const a of advisories) bySource.get(a.source)?.push(a) ?? bySource.set(a.source, [a]);
  const candidates = packages.filter((p) => bySource.has(p.source || p.name));
  const available = await store.available(candidates.map((p) => p.name));
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
  index: FleetIndex,
  opts: { release?: string; all?: boolean } = {},
): Promise<ImageScan[]> {
  const rows = await index.scanRows(opts);
  const releases = imageReleases(rows, opts.release);
  const perRelease = new Map<string, Map<number, Finding[]>>();
  const coverage = new Map<string, ReleaseCoverage>();
  for (const release of new Set([...releases.values()].filter((r) => r !== undefined))) {
    perRelease.set(release, await findingsByPackage(index.advisories, release, rows.packages));
    coverage.set(release, releaseCoverage(release, await index.advisories.coverage(release)));
  }
  const vulnerableIds = [...new Set([...perRelease.values()].flatMap((m) => [...m.keys()]))];
  const holding = await index.holdersOf(vulnerableIds);
  const images = rows.images;
  const strata = rows.builtByStrata;
  const scans = new Map<number, ImageScan>();
  // Images named in a registry are updated as docker://REF; local image locations by their own name.
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
  for (const [id, n] of rows.packageCounts) {
    const scan = scans.get(id);
    if (scan) scan.packageCount = n;
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
