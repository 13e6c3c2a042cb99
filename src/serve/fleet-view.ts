import { CVE_ID } from "../advisories/advisory.js";
import type { Severity } from "../advisories/severity.js";
import type { FleetIndex } from "../fleet/fleet-index.js";
import type { ImageRow } from "../fleet/image-rows.js";
import { byIds, type IndexedPackage } from "../fleet/lookups.js";
import { type Page, type PageRequest, type PageWindow, pageWindow, sliceWindow } from "../fleet/page.js";
import { parseQuery } from "../fleet/query.js";
import { refText } from "../fleet/ref-text.js";
import { RECENT_RUNS_MS, type RunRecord } from "../fleet/runs.js";
import { diffPackageLists, type PackageListDiff } from "../inventory/package-diff.js";
import type { SbomFormat } from "../sbom/sbom.js";
import { StrataError } from "../util/errors.js";
import { SHA256_DIGEST } from "../util/verify.js";
import { computeSummary, type FleetLists, type FleetSummary, KeptUntilChanged } from "./fleet-summary.js";
import { type ImageSbom, indexedImageSbom, type SbomOptions } from "./image-sbom.js";
import type { Vulnerabilities } from "./vulnerabilities.js";

/**
 * The answers the page's JSON API gives, assembled from the fleet index and the advisories. Every
 * argument has been validated by the route's schema; what names nothing gives a NOT_FOUND error.
 */

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

/** A page of a list the view keeps whole, with its total. */
function pageOf<T>(list: T[], window: PageWindow): Page<T> {
  return { items: sliceWindow(list, window), total: list.length, offset: window.offset, limit: window.limit };
}

export class FleetView {
  private readonly summary: KeptUntilChanged<FleetSummary>;

  constructor(
    readonly index: FleetIndex,
    readonly vulnerabilities: Vulnerabilities,
    private readonly sbomOptions: SbomOptions = { timeoutMs: 30_000 },
  ) {
    // Keyed by what it is computed from: the index's images and the advisories stored.
    const key = async () => {
      const feeds = await vulnerabilities.feeds();
      return JSON.stringify([await index.changes(), feeds.map((f) => [f.location, f.storedAt])]);
    };
    this.summary = new KeptUntilChanged(key, () => computeSummary(index, vulnerabilities));
  }

  private async lists(opts: { all?: boolean }): Promise<FleetLists> {
    const summary = await this.summary.get();
    return opts.all ? summary.all : summary.current;
  }

  /**
   * A page of the images with their package counts and vulnerabilities, newest first (`all`:
   * superseded ones too), with the totals the page shows above it and the fleet's bytes.
   */
  async fleet(opts: { all?: boolean } = {}, page?: PageRequest) {
    const summary = await this.summary.get();
    const lists = opts.all ? summary.all : summary.current;
    const images = pageOf(lists.images, pageWindow(page));
    return { ...images, items: images.items.map((s) => s.image), totals: lists.totals, bytes: summary.bytes };
  }

  /** An image by manifest digest or by ref text (registry/repository:tag). */
  async resolve(text: string): Promise<ImageRow> {
    if (SHA256_DIGEST.test(text)) {
      const row = await this.index.imageRow(text);
      if (row === undefined) throw notFound(text);
      return row;
    }
    const match = (await this.lists({})).images.find((s) =>
      s.image.refs.some((ref) => refText(ref) === text),
    );
    const row = match && (await this.index.imageRow(match.image.digest));
    if (row === undefined) throw notFound(text);
    return row;
  }

  /** One image: its layer stack with packages, and its vulnerabilities. */
  async image(digest: string) {
    const row = await this.resolve(digest);
    const layers = await this.index.layerStack(row);
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
    const packages = await this.index.packagesOfImages(byIds([ra.id, rb.id]));
    const [la, lb] = [await this.index.layerStack(ra), await this.index.layerStack(rb)];
    const inA = new Set(la.map((l) => l.digest));
    const shared = lb.filter((l) => inA.has(l.digest)).length;
    return {
      a: publicRow(ra),
      b: publicRow(rb),
      packages: packageDiff(packages.get(ra.id) ?? [], packages.get(rb.id) ?? []),
      layers: { shared, onlyInA: la.length - shared, onlyInB: lb.length - shared },
    };
  }

  /** A page of the images by package query (as strata query: a relation, source:, digest:) or by CVE id. */
  async search(text: string, page?: PageRequest) {
    if (!CVE_ID.test(text)) {
      const { items, ...rest } = await this.index.query(parseQuery(text), page);
      return { kind: "query" as const, answers: items, ...rest };
    }
    const hits = (await this.lists({})).images
      .map((s) => ({ ...s, findings: s.findings.filter((f) => f.id === text) }))
      .filter((s) => s.findings.length > 0);
    const { items, ...rest } = pageOf(hits, pageWindow(page));
    const packages =
      items.length === 0 ? new Map() : await this.index.packagesOfImages(byIds(items.map((s) => s.id)));
    const answers = items.map((s) => ({
      image: s.image,
      packages: (packages.get(s.id) ?? []).filter((p: IndexedPackage) =>
        s.findings.some((f) => f.package === p.name),
      ),
      findings: s.findings,
    }));
    return { kind: "cve" as const, answers, ...rest };
  }

  /**
   * A page of the vulnerable images, worst first, each with its findings and the fixing versions,
   * and the `strata run`s of the last week that used it.
   */
  async vulnerable(opts: { all?: boolean } = {}, page?: PageRequest, now = Date.now()) {
    const { items, ...rest } = pageOf((await this.lists(opts)).vulnerable, pageWindow(page));
    const runs =
      items.length === 0
        ? []
        : await this.index.runs({
            digests: items.map((s) => s.image.digest),
            since: now - RECENT_RUNS_MS,
            limit: 1000,
          });
    const images = items.map(({ image, findings }) => ({
      image,
      findings,
      recentRuns: runs.filter((r) => r.digest === image.digest),
    }));
    return { images, ...rest };
  }

  /** The last runs (strata run), newest first, each with what its image is known to carry now. */
  async runs(): Promise<{ run: RunRecord; indexed: boolean; worst?: Severity; vulnerabilities: number }[]> {
    const runs = await this.index.runs({ limit: 200 });
    // A run of an image superseded since still ran it: its findings count.
    const images = (await this.summary.get()).byDigest;
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
