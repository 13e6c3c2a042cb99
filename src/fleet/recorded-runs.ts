import { artifactImages, imageDescriptor } from "../oci/image.js";
import { archiveKind } from "../oci/locations/docker-archive.js";
import { readLocation } from "../oci/locations/locations.js";
import { sourceLocation } from "../oci/locations/name.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { SHA256_DIGEST } from "../util/verify.js";
import type { RunRecord } from "./runs.js";
import { withFleetIndex } from "./with-index.js";

/** The manifest digests `image` names: a digest as it is, a location every image it holds. */
async function imageDigests(image: string, registry: RegistryClientOptions): Promise<string[]> {
  if (SHA256_DIGEST.test(image)) return [image];
  const artifact = await readLocation(await sourceLocation(image, archiveKind), { registry });
  return artifactImages(artifact).map((i) => imageDescriptor(i).digest);
}

/** `strata runs`: the runs the index recorded, newest first, of every image or of the image named. */
export async function recordedRuns(req: {
  image?: string;
  limit: number;
  index?: string;
  registry: RegistryClientOptions;
}): Promise<RunRecord[]> {
  const digests = req.image === undefined ? undefined : await imageDigests(req.image, req.registry);
  return withFleetIndex(req.index, (index) => index.runs({ digests, limit: req.limit }));
}
