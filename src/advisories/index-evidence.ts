import { resolve } from "node:path";
import type { FetchContext } from "../debian/release.js";
import type { Spec } from "../spec/spec.js";
import type { Advisory } from "./advisory.js";
import type { InstalledPackage } from "./match.js";
import { type RepositoryEvidence, repositoryEvidence } from "./repository-evidence.js";
import type { AdvisoryStore, RepositoryVersion } from "./store.js";

/** A package some indexed image holds (FleetIndex.heldPackages). */
export interface HeldPackage {
  name: string;
  version: string;
  architecture: string;
  source: string;
  sourceVersion: string;
}

export interface IndexEvidenceResult {
  location: string;
  packages: number;
  advisories: number;
  newer: number;
  trimmed: string[];
}

/**
 * Derives the changelog evidence of `rows` (every package the index holds) against the spec's repositories
 * (per architecture; "all" packages with each) and stores it, replacing what that spec gave before,
 * so that `check`, `scan --fleet` and the webhook decide from the database alone.
 */
export async function storeIndexEvidence(
  store: AdvisoryStore,
  rows: HeldPackage[],
  spec: Spec,
  ctx: FetchContext = {},
  release?: string,
): Promise<IndexEvidenceResult> {
  const advisories = new Map<string, Advisory>();
  const versions: RepositoryVersion[] = [];
  const trimmed = new Set<string>();
  let covers: RepositoryEvidence["covers"] | undefined;
  for (const arch of spec.archs) {
    const packages: InstalledPackage[] = rows
      .filter((r) => r.architecture === arch || r.architecture === "all" || r.architecture === "")
      .map((r) => ({
        name: r.name,
        version: r.version,
        source: r.source || r.name,
        sourceVersion: r.sourceVersion || r.version,
      }));
    if (packages.length === 0) continue;
    const evidence = await repositoryEvidence(spec, packages, { arch, ctx, release });
    for (const a of evidence.advisories) advisories.set(`${a.source} ${a.id} ${a.fixedVersion}`, a);
    for (const [name, v] of evidence.available) versions.push({ name, architecture: arch, ...v });
    for (const source of evidence.trimmed) trimmed.add(source);
    covers = evidence.covers;
  }
  const location = `changelogs:${resolve(spec.path)}`;
  const list = [...advisories.values()];
  const coverage = covers?.release ? [{ ...covers, location, kind: "changelog" as const }] : [];
  const feed = { location, kind: "changelog" as const, date: new Date().toISOString() };
  await store.store(feed, list, versions, coverage);
  return {
    location,
    packages: rows.length,
    advisories: list.length,
    newer: versions.length,
    trimmed: [...trimmed],
  };
}
