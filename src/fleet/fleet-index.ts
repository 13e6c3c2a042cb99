import { AdvisoryStore } from "../advisories/store.js";
import type { Db } from "../database/db.js";
import { type Generations, readGenerations } from "../database/generations.js";
import type { Image } from "../oci/image.js";
import {
  type FleetBytes,
  fleetBytes,
  fleetImages,
  type ImageRow,
  imageByDigest,
  layerStack,
  packageCounts,
  packagesOfImages,
  type StackLayer,
} from "./image-rows.js";
import {
  heldPackages,
  type IndexedImageContents,
  type InstalledRow,
  imagesUnder,
  manifestsUnder,
} from "./indexed-images.js";
import {
  type DigestAnswer,
  type IndexedImage,
  type IndexedPackage,
  type IndexStats,
  imagesByDigest,
  indexStats,
  listImages,
  packagesOfImage,
  type Selection,
} from "./lookups.js";
import { namedDigests } from "./named-digests.js";
import { indexLocation, openIndexDatabase } from "./open.js";
import { type Page, type PageRequest, pageWindow } from "./page.js";
import { type FleetQuery, parseQuery, type QueryAnswer, runQuery } from "./query.js";
import {
  type PruneResult,
  pruneSuperseded,
  type RemoveResult,
  type RemoveTarget,
  removeImages,
} from "./remove.js";
import { type RunningImage, type RunningImageKey, runningImages } from "./running.js";
import { listRuns, type RunRecord, type RunsWhere, recordRun } from "./runs.js";
import { type FleetScanRows, fleetScanRows, holdersOf } from "./scan-rows.js";
import {
  type AddOptions,
  type AddResult,
  addImage,
  addImages,
  type ImageRef,
  type ImageToAdd,
} from "./store.js";
import { recordSyncedTag, syncedDigest, syncedTags } from "./sync-tags.js";

/**
 * The fleet index: every image of every registry (and any image location), keyed by content, on SQLite or
 * PostgreSQL. This is the one entry point other modules use: its SQL is its own (the database is
 * private), and the vulnerability data kept in the same database is reached through `advisories`.
 */
export class FleetIndex {
  /** The advisories, evidence and coverage stored beside the images. */
  readonly advisories: AdvisoryStore;

  private constructor(private readonly db: Db) {
    this.advisories = new AdvisoryStore(db);
  }

  /** Opens the index at `location` (a file path or postgres:// URL; default: STRATA_INDEX, else the data directory). */
  static async open(location?: string): Promise<FleetIndex> {
    return new FleetIndex(await openIndexDatabase(indexLocation(location)));
  }

  /** The index over a database opened (and migrated) elsewhere: tests count the statements it runs. */
  static over(db: Db): FleetIndex {
    return new FleetIndex(db);
  }

  get where(): string {
    return this.db.where;
  }

  /** Adds one image read from `where`, named by `refs`; all of it or nothing is stored. */
  add(image: Image, where: string, refs: ImageRef[], opts?: AddOptions): Promise<AddResult> {
    return addImage(this.db, image, where, refs, opts);
  }

  /** Adds many images at hand (not read over a network) in one transaction: all or none. */
  addMany(images: ImageToAdd[], opts?: AddOptions): Promise<AddResult[]> {
    return addImages(this.db, images, opts);
  }

  remove(target: RemoveTarget): Promise<RemoveResult> {
    return removeImages(this.db, target);
  }

  /** Images whose manifest, config (image ID) or a layer (digest or diff_id) is `digest`. */
  async byDigest(digest: string): Promise<DigestAnswer[]> {
    return (await imagesByDigest(this.db, digest, pageWindow({ limit: "all" }))).items;
  }

  /** The packages a container of the image with this manifest digest sees ([] if not indexed). */
  packagesOf(manifestDigest: string): Promise<IndexedPackage[]> {
    return packagesOfImage(this.db, manifestDigest);
  }

  /** For each running container's digests and diff_ids, the image it runs with its packages: one lookup for all. */
  running(keys: RunningImageKey[]): Promise<(RunningImage | undefined)[]> {
    return runningImages(this.db, keys);
  }

  /** The images a ref names; with `all`, superseded ones (no ref left to them) too. */
  images(opts: { all?: boolean } = {}): Promise<IndexedImage[]> {
    return listImages(this.db, opts);
  }

  /** Removes the superseded images (no ref names them any more), and the layers only they held. */
  prune(): Promise<PruneResult> {
    return pruneSuperseded(this.db);
  }

  /** A counter every write of images bumps, in the database: what a reader keeps is stale when it moved. */
  async changes(): Promise<number> {
    return (await readGenerations(this.db)).images;
  }

  /** How many times the images and the vulnerability data have changed (see database/generations.ts). */
  generations(): Promise<Generations> {
    return readGenerations(this.db);
  }

  stats(): Promise<IndexStats> {
    return indexStats(this.db);
  }

  /**
   * Answers a query, as text (`openssl << 3.0.15-1~deb12u1`, `source:openssl`, `digest:sha256:...`)
   * or parsed: one page of the matching images (default: the first DEFAULT_LIMIT) and their total.
   */
  query(query: string | FleetQuery, page?: PageRequest): Promise<Page<QueryAnswer>> {
    return runQuery(this.db, typeof query === "string" ? parseQuery(query) : query, page);
  }

  /** Records one `strata run`. */
  recordRun(run: RunRecord): Promise<void> {
    return recordRun(this.db, run);
  }

  /** Runs, newest first (default: the last 100). */
  runs(where?: RunsWhere): Promise<RunRecord[]> {
    return listRuns(this.db, where);
  }

  /** The images a digest names (itself, or the images of an indexed index), with their packages. */
  imagesUnder(digest: string): Promise<IndexedImageContents[]> {
    return imagesUnder(this.db, digest);
  }

  /** The manifest digests a digest names: itself when it is an indexed image, else an indexed index's. */
  manifestsUnder(digest: string): Promise<string[]> {
    return manifestsUnder(this.db, digest);
  }

  /** The digests refs name, up to `limit`, in digest order (what a webhook warms up with). */
  namedDigests(limit: number): Promise<string[]> {
    return namedDigests(this.db, limit);
  }

  /** Every package some indexed image holds, once. */
  heldPackages(): Promise<InstalledRow[]> {
    return heldPackages(this.db);
  }

  /** The page's rows of the images a ref names (with `all`, superseded ones too), newest first. */
  imageRows(opts: { all?: boolean } = {}): Promise<ImageRow[]> {
    return fleetImages(this.db, opts);
  }

  /** The page's row of the image with this manifest digest, or undefined. */
  imageRow(digest: string): Promise<ImageRow | undefined> {
    return imageByDigest(this.db, digest);
  }

  /** The visible packages of the selected images, by manifest id. */
  packagesOfImages(sel: Selection): Promise<Map<number, IndexedPackage[]>> {
    return packagesOfImages(this.db, sel);
  }

  /** How many packages each selected image shows, by manifest id. */
  packageCounts(sel: Selection): Promise<Map<number, number>> {
    return packageCounts(this.db, sel);
  }

  /** The fleet's bytes: every image whole, the layers stored once, and the shared ones. */
  bytes(): Promise<FleetBytes> {
    return fleetBytes(this.db);
  }

  /** The image's layers, bottom first, each with the packages a container sees from it. */
  layerStack(image: ImageRow): Promise<StackLayer[]> {
    return layerStack(this.db, image);
  }

  /** What a whole-fleet scan reads before it matches anything. */
  scanRows(opts: { all?: boolean } = {}): Promise<FleetScanRows> {
    return fleetScanRows(this.db, opts);
  }

  /** Which images hold which of these packages (by package id). */
  holdersOf(packageIds: number[]): Promise<{ manifest_id: number; package_id: number }[]> {
    return holdersOf(this.db, packageIds);
  }

  /** The digest a registry tag named when it was last synced. */
  syncedDigest(registry: string, repo: string, tag: string): Promise<string | undefined> {
    return syncedDigest(this.db, registry, repo, tag);
  }

  /** Records what a synced tag named and how its sync went. */
  recordSyncedTag(
    registry: string,
    repo: string,
    tag: string,
    digest: string,
    outcome: string,
  ): Promise<void> {
    return recordSyncedTag(this.db, { registry, repo, tag }, digest, outcome);
  }

  /** The tags of a repository a sync has seen. */
  syncedTags(registry: string, repo: string): Promise<string[]> {
    return syncedTags(this.db, registry, repo);
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
