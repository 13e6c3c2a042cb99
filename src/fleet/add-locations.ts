import { artifactDescriptor, artifactImages } from "../oci/image.js";
import { archiveKind } from "../oci/locations/docker-archive.js";
import { readLocation } from "../oci/locations/locations.js";
import { sourceLocation } from "../oci/locations/name.js";
import { platformText } from "../oci/platform.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { StrataError } from "../util/errors.js";
import type { FleetIndex } from "./fleet-index.js";
import { refOf } from "./location-ref.js";

/** What adding an image did: indexed it (or found it indexed already), or failed. */
export type AddEvent =
  | { kind: "indexed"; where: string; added: boolean; manifest: string; packages: number; note?: string }
  | { kind: "failed"; error: unknown };

/**
 * Adds every image of each location (any image location) to `index`, named by where it was found. One that
 * cannot be read or added is reported and the others are still added; then the count of those
 * fails it. A database error ends it at once: nothing more could be added.
 */
export async function addLocations(
  index: FleetIndex,
  locations: string[],
  opts: { registry?: RegistryClientOptions; onEvent: (event: AddEvent) => void },
): Promise<void> {
  let failed = 0;
  let images = 0;
  for (const location of locations) {
    try {
      const imageLocation = await sourceLocation(location, archiveKind);
      const artifact = await readLocation(imageLocation, { registry: opts.registry });
      const ref = refOf(imageLocation, artifactDescriptor(artifact).digest);
      for (const image of artifactImages(artifact)) {
        images++;
        const where = `${location} (${platformText(image)})`;
        try {
          const { added, manifest, packages, note } = await index.add(image, where, [ref]);
          opts.onEvent({ kind: "indexed", where, added, manifest, packages, note });
        } catch (error) {
          failed++;
          opts.onEvent({ kind: "failed", error });
        }
      }
    } catch (error) {
      if (error instanceof StrataError && error.code === "DATABASE") throw error;
      failed++;
      opts.onEvent({ kind: "failed", error });
    }
  }
  if (failed > 0) {
    throw new StrataError(
      "IO",
      `${failed} of ${Math.max(images, failed)} images were not indexed (see above)`,
      {
        hint: "the others are in the index; fix or drop the ones named above and add them again",
      },
    );
  }
}
