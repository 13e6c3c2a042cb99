import { CVE_ID } from "../advisories/advisory.js";
import type { Finding } from "../advisories/match.js";
import { type Severity, severityRank } from "../advisories/severity.js";
import type { FleetIndex } from "../fleet/fleet-index.js";
import { fleetSelection, type IndexedPackage } from "../fleet/lookups.js";
import { parseQuery } from "../fleet/query.js";
import { refText } from "../fleet/ref-text.js";
import { RECENT_RUNS_MS, type RunRecord } from "../fleet/runs.js";
import { diffPackageLists, type PackageListDiff } from "../inventory/package-diff.js";
import type { SbomFormat } from "../sbom/sbom.js";
import { StrataError } from "../util/errors.js";
import { SHA256_DIGEST } from "../util/verify.js";
import {
  byId,
  fleetImages,
  type ImageRow,
  imageByDigest,
  layerStack,
  packagesOfImages,
} from "./fleet-data.js";
import { type ImageSbom, indexedImageSbom, type SbomOptions } from "./image-sbom.js";
import { type SeverityCounts, summarize, type Vulnerabilities, worst } from "./vulnerabilities.js";

/**
 * The answers the page's JSON API gives, assembled from the fleet index and the advisories. Every
 * argument has been validated by the route's schema; what names nothing gives a NOT_FOUND error.
 */

export interface FleetImage extends Omit<ImageRow, "id"> {
  packages: number;
  vulnerabilities: SeverityCounts;
  fixable: number;
  worst?: Severity;
  /** Why its vulnerabilities are unknown (nothing covers its release): shown grey, never as "none". */
  unknown?: string;
}

function publicRow({ id: _id, ...row }: ImageRow): Omit<ImageRow, "id"> {
  return row;
}

/** An image the index does not hold (the API answers 404). */
export class NotIndexed extends StrataError {}

function notFound(what: string): NotIndexed {
  return new NotIndexed("USAGE", `${what} is not in the index`, {
    hint: "index it with strata index add, or pick one from the fleet list",
  });
}

/** What changes from one image's package list to another's (in the index). */
export interface PackageDiff extends Omit<PackageListDiff<IndexedPackage>, "changed"> {
  changed: { name: string; architecture: string; a: IndexedPackage; b: IndexedPackage }[];
}

function packageDiff(a: IndexedPackage[], b: IndexedPackage[]): PackageDiff {
  const diff = diffPackageLists(a, b);
  const changed = diff.changed.map((c) => ({ name: c.b.name, architecture: c.b.architecture, ...c }));
  return { ...diff, changed };
}

interface Scanned {
  image: FleetImage;
  packages: IndexedPackage[];
  findings: Finding[];
}

export class FleetView {
  constructor(
    readonly index: FleetIndex,
    readonly vulnerabilities: Vulnerabilities,
    private readonly sbomOptions: SbomOptions = { timeoutMs: 30_000 },
  ) {}

  /** The images a ref names (`all`: superseded ones too) with their packages and findings, newest first. */
  private async scanned(opts: { all?: boolean } = {}): Promise<Scanned[]> {
    const rows = await fleetImages(this.index, opts);
    const packages = await packagesOfImages(this.index, fleetSelection(opts));
    const scans = await this.vulnerabilities.fleet();
    return rows.map((row) => {
      const list = packages.get(row.id) ?? [];
      const { findings, unknown } = scans.get(row.digest) ?? { findings: [] };
      const { bySeverity, fixable } = summarize(findings);
      const image = { ...publicRow(row), packages: list.length, vulnerabilities: bySeverity, fixable };
      return {
        image: { ...image, worst: worst(findings), ...(unknown ? { unknown } : {}) },
        packages: list,
        findings,
      };
    });
  }

  /** The images with their package counts and vulnerabilities, newest first (`all`: superseded ones too). */
  async fleet(opts: { all?: boolean } = {}): Promise<FleetImage[]> {
    return (await this.scanned(opts)).map((s) => s.image);
  }

  /** An image by manifest digest or by ref text (registry/repository:tag). */
  async resolve(text: string): Promise<ImageRow> {
    if (SHA256_DIGEST.test(text)) {
      const row = await imageByDigest(this.index, text);
      if (row === undefined) throw notFound(text);
      return row;
    }
    const match = (await fleetImages(this.index)).find((r) => r.refs.some((ref) => refText(ref) === text));
    if (match === undefined) throw notFound(text);
    return match;
  }

  /** One image: its layer stack with packages, and its vulnerabilities. */
  async image(digest: string) {
    const row = await this.resolve(digest);
    const layers = await layerStack(this.index, row);
    const packages = layers.flatMap((l) => l.packages);
    const findings = await this.vulnerabilities.ofPackages(packages);
    const unknown = await this.vulnerabilities.unknownFor(packages);
    return { image: publicRow(row), layers, findings, ...(unknown ? { unknown } : {}) };
  }

  /** The image's SBOM: attached where it lives, else computed from it (read from there). */
  async sbom(digest: string, format: SbomFormat): Promise<ImageSbom & { image: ImageRow }> {
    const row = await this.resolve(digest);
    return { image: row, ...(await indexedImageSbom(row.refs, row.digest, format, this.sbomOptions)) };
  }

  /** What changes from image `a` to image `b`, from the index's package lists. */
  async diff(a: string, b: string) {
    const [ra, rb] = [await this.resolve(a), await this.resolve(b)];
    const packages = await packagesOfImages(this.index, byId(ra.id, rb.id));
    const [la, lb] = [await layerStack(this.index, ra), await layerStack(this.index, rb)];
    const inA = new Set(la.map((l) => l.digest));
    const shared = lb.filter((l) => inA.has(l.digest)).length;
    return {
      a: publicRow(ra),
      b: publicRow(rb),
      packages: packageDiff(packages.get(ra.id) ?? [], packages.get(rb.id) ?? []),
      layers: { shared, onlyInA: la.length - shared, onlyInB: lb.length - shared },
    };
  }

  /** Images by package query (as strata query: a relation, source:, digest:) or by CVE id. */
  async search(text: string) {
    if (CVE_ID.test(text)) {
      const hits = (await this.scanned())
        .map((s) => ({ ...s, findings: s.findings.filter((f) => f.id === text) }))
        .filter((s) => s.findings.length > 0);
      return {
        kind: "cve" as const,
        answers: hits.map((s) => ({
          image: s.image,
          packages: s.packages.filter((p) => s.findings.some((f) => f.package === p.name)),
          findings: s.findings,
        })),
      };
    }
    return { kind: "query" as const, answers: await this.index.query(parseQuery(text)) };
  }

  /**
   * The vulnerable images, worst first, each with its findings and the fixing versions, and the
   * `strata run`s of the last week that used it.
   */
  async vulnerable(
    opts: { all?: boolean } = {},
    now = Date.now(),
  ): Promise<{ image: FleetImage; findings: Finding[]; recentRuns: RunRecord[] }[]> {
    const rank = (s?: Severity) => (s === undefined ? -1 : severityRank(s));
    const vulnerable = (await this.scanned(opts)).filter((s) => s.findings.length > 0);
    const runs = await this.index.runs({
      digests: vulnerable.map((v) => v.image.digest),
      since: now - RECENT_RUNS_MS,
      limit: 1000,
    });
    return vulnerable
      .map(({ image, findings }) => ({
        image,
        findings,
        recentRuns: runs.filter((r) => r.digest === image.digest),
      }))
      .sort((x, y) => rank(y.image.worst) - rank(x.image.worst) || y.findings.length - x.findings.length);
  }

  /** The last runs (strata run), newest first, each with what its image is known to carry now. */
  async runs(): Promise<{ run: RunRecord; indexed: boolean; worst?: Severity; vulnerabilities: number }[]> {
    const runs = await this.index.runs({ limit: 200 });
    // A run of an image superseded since still ran it: its findings count.
    const images = new Map((await this.scanned({ all: true })).map((s) => [s.image.digest, s]));
    return runs.map((run) => {
      const scanned = images.get(run.digest);
      return {
        run,
        indexed: scanned !== undefined,
        ...(scanned?.image.worst ? { worst: scanned.image.worst } : {}),
        vulnerabilities: scanned?.findings.length ?? 0,
      };
    });
  }
}
