import { type Artifact, artifactImages } from "../oci/image.js";
import { readLocationIfPresent } from "../oci/locations/locations.js";
import { type ImageLocation, locationText } from "../oci/locations/name.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { KnownBlobs } from "../oci/registry/known-blobs.js";

/**
 * The images at `locations` whose layers a build may reuse (what the image's registry tag holds now,
 * --cache-from). One that does not exist yet is noted, not an error (the first push of a tag).
 * Layers of a registry image are remembered as held there, so a push to another repository of it
 * mounts them.
 */
export async function reuseSources(
  locations: ImageLocation[],
  opts: { registry?: RegistryClientOptions; onNote?: (message: string) => void } = {},
): Promise<Artifact[]> {
  const artifacts: Artifact[] = [];
  const known = await KnownBlobs.load();
  for (const location of locations) {
    const artifact = await readLocationIfPresent(location, { registry: opts.registry });
    if (artifact === undefined) {
      opts.onNote?.(`nothing at ${locationText(location)} yet: no layers to reuse from it`);
      continue;
    }
    if (location.transport === "docker")
      known.recordImages(location.ref.registry, location.ref.repository, artifactImages(artifact));
    artifacts.push(artifact);
  }
  // The mount hints are a cache: failing to save them must not fail the build.
  await known.save().catch(() => undefined);
  return artifacts;
}
