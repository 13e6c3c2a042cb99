import { type Db, placeholders } from "../database/db.js";
import { countChange } from "../database/generations.js";
import { type Image, imageDescriptor } from "../oci/image.js";
import { MediaType } from "../oci/types.js";
import { StrataError } from "../util/errors.js";
import { SHA256_DIGEST } from "../util/verify.js";
import {
  type DpkgListing,
  type NewLayerListings,
  readNewLayerRecords,
  visibleRecords,
} from "./layer-records.js";
import { layersToReread } from "./layer-trust.js";
import { packageSource } from "./package-source.js";

/**
 * Adding one image to the index. Everything is read first (nothing from the network or a layer
 * inside a transaction), then stored in one transaction: the image is in whole or not at all.
 * A layer already indexed is not read again; a manifest already indexed only gains the new refs.
 */

/** Where an image was found: a registry's repository and tag, or a local image location (registry ""). */
export interface ImageRef {
  registry: string;
  repository: string;
  /** "" when the image was named by digest. */
  tag: string;
  /** What the name resolves to: the manifest, or the index that holds it. */
  topDigest: string;
}

export interface AddResult {
  manifest: string;
  /** False when the manifest was already indexed (only its refs were added). */
  added: boolean;
  packages: number;
  /** Layers whose bytes were read (their packages were not in annotations). */
  layersRead: number;
  /** Why a strata image's packages were read from its layers (its record missing or not believed). */
  note?: string;
}

export interface AddOptions {
  /** Drop what `ref.tag` named before, when it named another digest (a tag that moved). */
  moveTag?: boolean;
}

const IMAGE_CONFIGS = new Set<string>([MediaType.ociConfig, MediaType.dockerConfig]);

/** Only images are indexed: an artifact (an SBOM, a signature) has no filesystem to hold packages. */
function checkIsImage(image: Image, where: string): void {
  const { manifest, config } = image;
  const what = manifest.artifactType ?? manifest.config.mediaType;
  if (!IMAGE_CONFIGS.has(manifest.config.mediaType) || manifest.artifactType !== undefined) {
    throw new StrataError("IO", `${where}: manifest is not an image but a ${what} artifact`, {
      hint: "index images; artifacts attached to them (SBOMs, signatures) are not indexed",
    });
  }
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length || diffIds.some((d) => !SHA256_DIGEST.test(d))) {
    throw new StrataError("IO", `${where}: the config's diff_ids do not match the manifest's layers`, {
      hint: "the image is damaged; rebuild or re-push it",
    });
  }
}

/** A record with its package id once stored (known layers' records come with theirs). */
interface StoredRecord extends DpkgListing {
  packageId?: number;
}

/**
 * The ids of the layers already indexed, by digest, those whose packages came from annotations,
 * and those stored before sizes were kept.
 */
async function knownLayers(
  db: Db,
  digests: string[],
): Promise<{
  ids: Map<string, number>;
  fromAnnotations: Map<string, number>;
  unsized: Set<string>;
  sizes: Map<string, number>;
}> {
  const rows = await db.all<{ id: number; digest: string; size: number | null; packages_from: string }>(
    `SELECT id, digest, size, packages_from FROM layers WHERE digest IN (${placeholders(digests.length)})`,
    digests,
  );
  const unsized = new Set(rows.filter((r) => r.size === null).map((r) => r.digest));
  const annotated = rows.filter((r) => r.packages_from === "annotations");
  return {
    ids: new Map(rows.map((r) => [r.digest, r.id])),
    fromAnnotations: new Map(annotated.map((r) => [r.digest, r.id])),
    unsized,
    sizes: new Map(rows.filter((r) => r.size !== null).map((r) => [r.digest, Number(r.size)])),
  };
}

/**
 * Layers stored from annotations whose stored size this image contradicts. A size nobody read the
 * bytes for is a claim like the packages: one of the two images lies, so the layer is read again
 * from this image, whose read checks its size, and the size read replaces the claim.
 */
function disputedSizes(image: Image, stored: Awaited<ReturnType<typeof knownLayers>>): Set<string> {
  const disputed = new Set<string>();
  for (const layer of image.manifest.layers) {
    const size = stored.sizes.get(layer.digest);
    if (stored.fromAnnotations.has(layer.digest) && size !== undefined && size !== layer.size)
      disputed.add(layer.digest);
  }
  return disputed;
}

/** The records of layers already indexed, as they were stored. */
async function storedRecords(db: Db, image: Image, known: Map<string, number>): Promise<StoredRecord[]> {
  const ids = [...new Set(known.values())];
  if (ids.length === 0) return [];
  const rows = await db.all<{
    layer_id: number;
    package_id: number;
    record: string;
    name: string;
    version: string;
    architecture: string;
  }>(
    `SELECT lp.layer_id, lp.package_id, lp.record, p.name, p.version, p.architecture
       FROM layer_packages lp JOIN packages p ON p.id = lp.package_id
      WHERE lp.layer_id IN (${placeholders(ids.length)})`,
    ids,
  );
  const out: StoredRecord[] = [];
  for (const [index, layer] of image.manifest.layers.entries()) {
    const id = known.get(layer.digest);
    for (const r of rows.filter((row) => row.layer_id === id)) {
      const facts = { name: r.name, version: r.version, architecture: r.architecture || undefined };
      out.push({ layer: index, facts, record: r.record, packageId: r.package_id });
    }
  }
  return out;
}

/** How many package rows the known layers hold. */
async function storedCount(db: Db, known: Map<string, number>): Promise<number> {
  const ids = [...new Set(known.values())];
  if (ids.length === 0) return 0;
  const row = await db.get<{ n: number }>(
    `SELECT COUNT(*) AS n FROM layer_packages WHERE layer_id IN (${placeholders(ids.length)})`,
    ids,
  );
  return Number(row?.n ?? 0);
}

/** How many packages the indexed image `manifestId` holds (what a container of it sees). */
async function imagePackageCount(db: Db, manifestId: number): Promise<number> {
  const row = await db.get<{ n: number }>("SELECT COUNT(*) AS n FROM image_packages WHERE manifest_id = ?", [
    manifestId,
  ]);
  return Number(row?.n ?? 0);
}

/** Adds `image` (read from `where`) under `refs`. */
export async function addImage(
  db: Db,
  image: Image,
  where: string,
  refs: ImageRef[],
  opts: AddOptions = {},
): Promise<AddResult> {
  checkIsImage(image, where);
  const digest = imageDescriptor(image).digest;
  const existing = await db.get<{ id: number }>("SELECT id FROM manifests WHERE digest = ?", [digest]);
  if (existing !== undefined) {
    const { unsized } = await knownLayers(db, [...new Set(image.manifest.layers.map((l) => l.digest))]);
    await db.transaction(async (tx) => {
      await fillSizes(tx, image, existing.id, unsized);
      await storeRefs(tx, existing.id, refs, opts);
      await countChange(tx, "images");
    });
    return {
      manifest: digest,
      added: false,
      packages: await imagePackageCount(db, existing.id),
      layersRead: 0,
    };
  }
  // Both the trust check and the new layers' records read a strata image's record: read once here.
  const source = await packageSource(image, where);
  const layers = image.manifest.layers;
  const stored = await knownLayers(db, [...new Set(layers.map((l) => l.digest))]);
  const reread = new Set([
    ...(await layersToReread(db, image, where, stored.fromAnnotations, source.strata)),
    ...disputedSizes(image, stored),
  ]);
  // The layers whose stored packages stand; the others are read (again) from this image.
  const known = new Map([...stored.ids].filter(([d]) => !reread.has(d)));
  const fresh = await readNewLayerRecords(
    image,
    where,
    source.strata,
    (i) => !known.has(layers[i].digest),
    (i) => reread.has(layers[i].digest),
  );
  const { shown, hidden } = await visibility(db, image, where, known, fresh);
  const replaced = new Map([...stored.ids].filter(([d]) => reread.has(d)));
  await db.transaction(async (tx) => {
    await fillSizes(tx, image, undefined, stored.unsized);
    const layerIds = await storeLayers(tx, image, known, fresh, replaced);
    const manifestId = await storeManifest(tx, image, digest, fresh.strata, layerIds, hidden);
    await storeRefs(tx, manifestId, refs, opts);
    await countChange(tx, "images");
  });
  const result = { manifest: digest, added: true, packages: shown, layersRead: fresh.read.size };
  return source.note === undefined ? result : { ...result, note: source.note };
}

/** One image for `addImages`: what `addImage` takes. */
export interface ImageToAdd {
  image: Image;
  where: string;
  refs: ImageRef[];
}

/**
 * Adds many images in one transaction, each as `addImage` stores it: all of them or none. Their
 * layers are read while the write lock is held, so this is for images at hand (a local layout, a
 * generated fleet), not for reads across a network.
 */
export function addImages(db: Db, images: ImageToAdd[], opts: AddOptions = {}): Promise<AddResult[]> {
  return db.transaction(async (tx) => {
    const results: AddResult[] = [];
    for (const { image, where, refs } of images) results.push(await addImage(tx, image, where, refs, opts));
    return results;
  });
}

/**
 * How many packages the image shows, and the stored records it hides. A strata image hides none
 * (each package is annotated on the one layer that holds it) and its annotations count them, so
 * nothing is read back; another image's records are weighed as a container would see them.
 */
async function visibility(
  db: Db,
  image: Image,
  where: string,
  known: Map<string, number>,
  fresh: NewLayerListings,
): Promise<{ shown: number; hidden: StoredRecord[] }> {
  let shown: number;
  let hidden: StoredRecord[] = [];
  if (fresh.strata) {
    shown = fresh.records.length + (await storedCount(db, known));
  } else {
    const records: StoredRecord[] = [...(await storedRecords(db, image, known)), ...fresh.records];
    const visible = visibleRecords(records);
    shown = visible.size;
    hidden = records.filter((r) => !visible.has(r));
  }
  if (shown === 0) {
    throw new StrataError(
      "IO",
      `${where}: no Debian packages found (no strata annotations, status.d or dpkg status)`,
      {
        hint: "only images with Debian packages are indexed; this one was left out",
      },
    );
  }
  return { shown, hidden };
}

/** The id of a package, stored if new; two processes storing it at once get the same row. */
async function packageId(tx: Db, r: DpkgListing): Promise<number> {
  const { name, version, architecture = "", source = "", sourceVersion = "" } = r.facts;
  const key = [name, version, architecture, source, sourceVersion];
  const inserted = await tx.get<{ id: number }>(
    `INSERT INTO packages (name, version, architecture, source, source_version) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (name, version, architecture, source, source_version) DO NOTHING RETURNING id`,
    key,
  );
  if (inserted) return inserted.id;
  const row = await tx.get<{ id: number }>(
    "SELECT id FROM packages WHERE name = ? AND version = ? AND architecture = ? AND source = ? AND source_version = ?",
    key,
  );
  return row!.id;
}

/** Stores the new layers and their packages; returns every layer's id by digest. */
async function storeLayers(
  tx: Db,
  image: Image,
  known: Map<string, number>,
  { records, read }: { records: StoredRecord[]; read: Set<number> },
  replaced: Map<string, number>,
): Promise<Map<string, number>> {
  const ids = new Map(known);
  const layers = image.manifest.layers;
  // In digest order, so that two writers of the same layers take their locks in the same order.
  const order = [...layers.keys()].filter((i) => !known.has(layers[i].digest));
  order.sort((a, b) => (layers[a].digest < layers[b].digest ? -1 : 1));
  for (const index of order) {
    const layer = layers[index];
    if (ids.has(layer.digest)) continue; // the same layer twice in one image
    const mine = records.filter((r) => r.layer === index);
    for (const r of mine) r.packageId = await packageId(tx, r);
    const replacedId = replaced.get(layer.digest);
    if (replacedId !== undefined) {
      // Annotations that proved false (or unproven): what the bytes say takes their place.
      await tx.run("DELETE FROM layer_packages WHERE layer_id = ?", [replacedId]);
      // The size too: this image's, which reading its bytes just checked.
      await tx.run("UPDATE layers SET packages_from = 'records', size = ? WHERE id = ?", [
        layer.size,
        replacedId,
      ]);
      ids.set(layer.digest, replacedId);
      await storeLayerPackages(tx, replacedId, mine);
      continue;
    }
    const inserted = await tx.get<{ id: number }>(
      `INSERT INTO layers (digest, diff_id, packages_from, size) VALUES (?, ?, ?, ?)
       ON CONFLICT (digest) DO NOTHING RETURNING id`,
      [
        layer.digest,
        image.config.rootfs.diff_ids[index],
        read.has(index) ? "records" : "annotations",
        layer.size,
      ],
    );
    if (inserted === undefined) {
      // Another process stored it meanwhile, with the same packages (a layer's are its content's).
      ids.set(
        layer.digest,
        (await tx.get<{ id: number }>("SELECT id FROM layers WHERE digest = ?", [layer.digest]))!.id,
      );
      continue;
    }
    ids.set(layer.digest, inserted.id);
    await storeLayerPackages(tx, inserted.id, mine);
  }
  return ids;
}

async function storeLayerPackages(tx: Db, layerId: number, records: StoredRecord[]): Promise<void> {
  for (const r of records) {
    await tx.run(
      `INSERT INTO layer_packages (layer_id, package_id, record, deb_sha256) VALUES (?, ?, ?, ?)
       ON CONFLICT (layer_id, package_id) DO NOTHING`,
      [layerId, r.packageId!, r.record, r.facts.debSha256 ?? null],
    );
  }
}

async function storeManifest(
  tx: Db,
  image: Image,
  digest: string,
  strata: boolean,
  layerIds: Map<string, number>,
  hidden: StoredRecord[],
): Promise<number> {
  const { config, manifest } = image;
  const inserted = await tx.get<{ id: number }>(
    `INSERT INTO manifests (digest, config_digest, media_type, os, architecture, variant, packages_from, added_at, size)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING RETURNING id`,
    [
      digest,
      manifest.config.digest,
      manifest.mediaType,
      config.os,
      config.architecture,
      config.variant ?? "",
      strata ? "annotations" : "records",
      Date.now(),
      imageSize(image),
    ],
  );
  if (inserted === undefined)
    return (await tx.get<{ id: number }>("SELECT id FROM manifests WHERE digest = ?", [digest]))!.id;
  const layers = manifest.layers;
  const rows = layers.flatMap((l, position) => [inserted.id, position, layerIds.get(l.digest)!]);
  await tx.run(
    `INSERT INTO manifest_layers (manifest_id, position, layer_id) VALUES ${layers.map(() => "(?, ?, ?)").join(", ")}`,
    rows,
  );
  for (const r of hidden) {
    await tx.run(
      `INSERT INTO hidden_packages (manifest_id, layer_id, package_id) VALUES (?, ?, ?)
       ON CONFLICT (manifest_id, layer_id, package_id) DO NOTHING`,
      [inserted.id, layerIds.get(layers[r.layer].digest)!, r.packageId!],
    );
  }
  return inserted.id;
}

/** The bytes a pull fetches besides the manifest: the config and every layer, compressed. */
export function imageSize(image: Image): number {
  const { config, layers } = image.manifest;
  return layers.reduce((sum, l) => sum + l.size, config.size);
}

/**
 * Sizes of rows stored before the index kept them (schema version 3), filled when an add or sync
 * sees the image again: a size is the descriptor's, the same for every image that holds the layer.
 */
async function fillSizes(tx: Db, image: Image, manifestId: number | undefined, unsized: Set<string>) {
  if (manifestId !== undefined)
    await tx.run("UPDATE manifests SET size = ? WHERE id = ? AND size IS NULL", [
      imageSize(image),
      manifestId,
    ]);
  for (const layer of image.manifest.layers.filter((l) => unsized.has(l.digest))) {
    await tx.run("UPDATE layers SET size = ? WHERE digest = ? AND size IS NULL", [layer.size, layer.digest]);
  }
}

async function storeRefs(tx: Db, manifestId: number, refs: ImageRef[], opts: AddOptions): Promise<void> {
  for (const ref of refs) {
    if (opts.moveTag) {
      await tx.run("DELETE FROM refs WHERE registry = ? AND repository = ? AND tag = ? AND top_digest <> ?", [
        ref.registry,
        ref.repository,
        ref.tag,
        ref.topDigest,
      ]);
    }
    await tx.run(
      `INSERT INTO refs (registry, repository, tag, manifest_id, top_digest) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (registry, repository, tag, manifest_id) DO UPDATE SET top_digest = excluded.top_digest`,
      [ref.registry, ref.repository, ref.tag, manifestId, ref.topDigest],
    );
  }
}
