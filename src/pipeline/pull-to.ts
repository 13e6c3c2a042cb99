import { type Artifact, artifactImages, type Image } from "../oci/image.js";
import { dockerArchiveImage, readLocation } from "../oci/locations/locations.js";
import type { ImageLocation } from "../oci/locations/name.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { outputNames, type PushWatcher, type WriteOptions, writeArtifact } from "./deliver.js";

export interface PullRequest {
  source: ImageLocation;
  destination: ImageLocation;
  /** --tag: the names the destination gives the image (see outputNames). */
  tag?: string;
  /** The one image a docker-archive takes from an index. */
  platform?: string;
  force?: boolean;
  registry: RegistryClientOptions;
}

/**
 * The layers as they are written: how many, then each once read to its end; into a registry, the
 * push as it goes (and lines about the copy: an image copied without its record).
 */
export interface PullWatcher extends PushWatcher {
  onLayers: (count: number) => void;
  onLayerRead: (digest: string) => void;
}

/** `strata pull`: the artifact at `source` written to `destination`, under the names that gives it. */
export async function pullTo(
  req: PullRequest,
  watch: PullWatcher,
): Promise<{ artifact: Artifact; names: Pick<WriteOptions, "refName" | "archiveName"> }> {
  const { source, destination } = req;
  const artifact = await readLocation(source, { registry: req.registry });
  const names = outputNames(
    destination,
    req.tag,
    source.transport === "docker"
      ? { name: `${source.ref.registry}/${source.ref.repository}`, tag: source.ref.tag }
      : {},
  );
  const written =
    destination.transport === "docker-archive"
      ? [dockerArchiveImage(artifact, req.platform)]
      : artifactImages(artifact);
  watch.onLayers(new Set(written.flatMap((i) => i.manifest.layers.map((l) => l.digest))).size);
  const options = { ...names, force: req.force, platform: req.platform };
  await writeArtifact(destination, withLayerWatch(artifact, watch.onLayerRead), options, {
    ...watch,
    registry: req.registry,
  });
  return { artifact, names };
}

/** The artifact with each layer heard of when it has been read to its end (layers stream while written). */
function withLayerWatch(artifact: Artifact, onLayerRead: (digest: string) => void): Artifact {
  const watch = (image: Image): Image => ({
    ...image,
    blobs: {
      open: async (digest, limit) => {
        const stream = await image.blobs.open(digest, limit);
        // Only layers count: the record read beside them is not one.
        if (limit === undefined) stream.once("end", () => onLayerRead(digest));
        return stream;
      },
    },
  });
  if (artifact.kind === "image") return { kind: "image", image: watch(artifact.image) };
  return { kind: "index", index: { ...artifact.index, images: artifact.index.images.map(watch) } };
}
