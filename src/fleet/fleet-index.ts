import type { Db } from "../database/db.js";
import { readGenerations } from "../database/generations.js";
import type { Image } from "../oci/image.js";
import {
  type DigestAnswer,
  type IndexedImage,
  type IndexedPackage,
  type IndexStats,
  imagesByDigest,
  indexStats,
  listImages,
  packagesOfImage,
} from "./lookups.js";
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
import {
  type AddOptions,
  type AddResult,
  addImage,
  addImages,
  type ImageRef,
  type ImageToAdd,
} from "./store.js";

/**
 * The fleet index: every image of every registry (and any home), keyed by content, on SQLite or
 * PostgreSQL. This is the one entry point other modules use; `db` is there for modules that keep
 * tables of their own in the same database (see schema.ts for migrations).
 */
export class FleetIndex {
  private constructor(readonly db: Db) {}

  /** Opens the index at `location` (a file path or postgres:// URL; default: STRATA_INDEX, else the data directory). */
  static async open(location?: string): Promise<FleetIndex> {
    return new FleetIndex(await openIndexDatabase(indexLocation(location)));
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

  close(): Promise<void> {
    return this.db.close();
  }
}
