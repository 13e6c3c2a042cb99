import type { Finding } from "../advisories/match.js";
import { type Severity, severityRank } from "../advisories/severity.js";
import type { FleetIndex } from "../fleet/fleet-index.js";
import type { FleetBytes, ImageRow } from "../fleet/image-rows.js";
import { ALL_IMAGES } from "../fleet/lookups.js";
import { type SeverityCounts, summarize, type Vulnerabilities, worst } from "./vulnerabilities.js";

/**
 * The fleet as the page lists it: every image with its package count and vulnerabilities, the
 * vulnerable ones worst first, and the totals above the list. Computing it reads the whole index
 * and matches every package, so it is computed once per change of the index (its change counter,
 * which every process's writes bump) or of the advisories stored, and each request takes a page.
 */

export interface FleetImage extends Omit<ImageRow, "id"> {
  packages: number;
  vulnerabilities: SeverityCounts;
  fixable: number;
  worst?: Severity;
  /** Why its vulnerabilities are unknown (nothing covers its release): shown grey, never as "none". */
  unknown?: string;
}

export interface SummarizedImage {
  /** The manifest's row id, for reading more of it (its packages). */
  id: number;
  image: FleetImage;
  findings: Finding[];
}

/** What the page's summary shows above the list. */
export interface FleetTotals {
  images: number;
  repositories: number;
  /** Images whose worst finding is low or worse. */
  vulnerable: number;
  fixable: number;
}

/** One view's lists: the images a tag names, or all of them (superseded ones too). */
export interface FleetLists {
  /** Newest first. */
  images: SummarizedImage[];
  /** The images with findings, worst first. */
  vulnerable: SummarizedImage[];
  totals: FleetTotals;
}

export interface FleetSummary {
  current: FleetLists;
  all: FleetLists;
  byDigest: Map<string, SummarizedImage>;
  bytes: FleetBytes;
}

function publicRow({ id: _id, ...row }: ImageRow): Omit<ImageRow, "id"> {
  return row;
}

function totalsOf(images: SummarizedImage[]): FleetTotals {
  const repos = new Set(images.flatMap((s) => s.image.refs.map((r) => `${r.registry}/${r.repository}`)));
  const low = (w?: Severity) => w !== undefined && w !== "negligible" && w !== "unknown";
  return {
    images: images.length,
    repositories: repos.size,
    vulnerable: images.filter((s) => low(s.image.worst)).length,
    fixable: images.reduce((n, s) => n + s.image.fixable, 0),
  };
}

function listsOf(images: SummarizedImage[]): FleetLists {
  const rank = (s?: Severity) => (s === undefined ? -1 : severityRank(s));
  const vulnerable = images
    .filter((s) => s.findings.length > 0)
    .sort((x, y) => rank(y.image.worst) - rank(x.image.worst) || y.findings.length - x.findings.length);
  return { images, vulnerable, totals: totalsOf(images) };
}

/** Reads the whole fleet and matches its packages: what the cache keeps. */
export async function computeSummary(
  index: FleetIndex,
  vulnerabilities: Vulnerabilities,
): Promise<FleetSummary> {
  const rows = await index.imageRows({ all: true });
  const counts = await index.packageCounts(ALL_IMAGES);
  const scans = await vulnerabilities.fleet();
  const all = rows.map((row): SummarizedImage => {
    const { findings, unknown } = scans.get(row.digest) ?? { findings: [] };
    const { bySeverity, fixable } = summarize(findings);
    const packages = counts.get(row.id) ?? 0;
    const image = {
      ...publicRow(row),
      packages,
      vulnerabilities: bySeverity,
      fixable,
      worst: worst(findings),
    };
    return { id: row.id, image: { ...image, ...(unknown ? { unknown } : {}) }, findings };
  });
  return {
    current: listsOf(all.filter((s) => !s.image.superseded)),
    all: listsOf(all),
    byDigest: new Map(all.map((s) => [s.image.digest, s])),
    bytes: await index.bytes(),
  };
}

/**
 * One value computed from the index, kept until its key (the change counter and the advisories
 * stored) moves. Requests that arrive while it is computed share that computation; one that failed
 * is not kept.
 */
export class KeptUntilChanged<T> {
  private kept?: { key: string; value: Promise<T> };

  constructor(
    private readonly keyNow: () => Promise<string>,
    private readonly compute: () => Promise<T>,
  ) {}

  async get(): Promise<T> {
    const key = await this.keyNow();
    if (this.kept?.key !== key) {
      const value = this.compute();
      this.kept = { key, value };
      value.catch(() => {
        if (this.kept?.value === value) this.kept = undefined;
      });
    }
    return this.kept.value;
  }
}
