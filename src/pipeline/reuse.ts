import { assertLockedMembers, type PackageLayerRecord } from "../layers/layer.js";
import { type Artifact, artifactDescriptor, artifactImages, type BlobSource } from "../oci/image.js";
import type { Descriptor } from "../oci/types.js";
import { decodeLayerFacts, layerPathsOf, storeLayerFacts } from "../record/layer-facts.js";
import { type LayerOptions, layerOptionsText } from "../record/layer-record.js";
import { checkRebuildable, type RebuildableLayer } from "../record/rebuildable.js";
import type { PlannedLayer } from "./plan.js";

/**
 * Layers a build may take by descriptor from images that already exist (`build --push REF` reads
 * REF, `--cache-from` names more, `strata update` passes the old image): a planned package or group
 * layer whose .deb sha256s, layer options and format match a layer of one of them is not made, and
 * its .debs are not fetched. Its facts come from the image's record, so the overlap check and
 * the files layer need no layer read; its bytes stay where they are and are read only if a writer
 * must copy them (a registry that already has the blob is only asked).
 *
 * The images are trusted to be what their records say, as a registry a build pushes to is:
 * name only images you would pull.
 */

interface Candidate {
  layer: RebuildableLayer;
  blobs: BlobSource;
  where: string;
}

/** A layer taken from an image: its record (facts decoded and their blobs stored) and where its bytes are. */
export interface ReusedLayer {
  record: PackageLayerRecord;
  bytes: BlobSource;
  where: string;
}

/** A base or files layer of an image, taken when a build's entries have the same digest. */
export interface ReusedEntriesLayer {
  descriptor: Descriptor;
  diffId: string;
  bytes: BlobSource;
}

export class ReuseIndex {
  private readonly byKey = new Map<string, Candidate>();
  private readonly byInputs = new Map<string, Candidate>();

  /** Indexes the package layers of every image strata can rebuild from its record; `note` hears why others are not used. */
  static async of(
    artifacts: Artifact[],
    options: LayerOptions,
    note: (message: string) => void = () => {},
  ): Promise<ReuseIndex> {
    const index = new ReuseIndex();
    for (const artifact of artifacts) {
      const where = artifactDescriptor(artifact).digest;
      for (const image of artifactImages(artifact)) {
        const rebuildability = await checkRebuildable(image, where);
        if (!rebuildability.ok) {
          note(`not reusing layers of ${where}: ${rebuildability.reason}`);
          continue;
        }
        for (const layer of rebuildability.layers) index.add({ layer, blobs: image.blobs, where }, options);
      }
    }
    return index;
  }

  private add(candidate: Candidate, options: LayerOptions): void {
    const { layer } = candidate;
    const own = layer.inputs === undefined ? options : { ...options, keepDocs: false };
    if (layerOptionsText(layer.options) !== layerOptionsText(own)) return;
    if (layer.inputs !== undefined) {
      const key = `${layer.kind} ${layer.inputs}`;
      if (!this.byInputs.has(key)) this.byInputs.set(key, candidate);
      return;
    }
    const key = reuseKey(
      layer.kind,
      layer.packages.map((p) => p.sha256),
    );
    if (!this.byKey.has(key)) this.byKey.set(key, candidate);
  }

  /** The base or files layer of an image made of entries whose digest is `inputs`, if any. */
  entriesLayer(kind: "base" | "files", inputs: string): ReusedEntriesLayer | undefined {
    const found = this.byInputs.get(`${kind} ${inputs}`);
    return found && { descriptor: found.layer.descriptor, diffId: found.layer.diffId, bytes: found.blobs };
  }

  /** The layer of an image that equals what `planned` would make, if any. */
  has(planned: PlannedLayer): boolean {
    return this.byKey.has(plannedKey(planned));
  }

  /** Takes the matching layer: its facts decoded and checked against the lock, their blobs stored. */
  async take(planned: PlannedLayer, storeRoot: string): Promise<ReusedLayer> {
    const found = this.byKey.get(plannedKey(planned));
    if (!found) throw new Error("ReuseIndex.take without a match");
    const { layer, where } = found;
    const facts = decodeLayerFacts(layer.facts!, `${where}: layer ${layer.index}`);
    const { digest, size, mediaType } = layer.descriptor;
    const record: PackageLayerRecord = {
      digest,
      size,
      mediaType,
      diffId: layer.diffId,
      ...layerPathsOf(facts.members),
      members: facts.members,
      factsAnnotation: layer.facts,
    };
    assertLockedMembers(record, planned.layer.packages);
    await storeLayerFacts(facts, storeRoot);
    return { record, bytes: found.blobs, where };
  }
}

function reuseKey(kind: string, sha256s: string[]): string {
  return `${kind} ${[...sha256s].sort().join(" ")}`;
}

function plannedKey({ layer }: PlannedLayer): string {
  return reuseKey(
    layer.kind,
    layer.packages.map((p) => p.sha256),
  );
}
