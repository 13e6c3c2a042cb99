import { FleetIndex } from "../fleet/fleet-index.js";
import { refOf } from "../fleet/location-ref.js";
import type { RunRecord } from "../fleet/runs.js";
import type { Image } from "../oci/image.js";
import { archiveKind } from "../oci/locations/docker-archive.js";
import { sourceLocation } from "../oci/locations/name.js";

/**
 * Stores a run in the fleet index, indexing its image first when the index does not hold it yet
 * (so `strata ps` and the page can say whether what ran is vulnerable). An image the index cannot
 * take (no Debian packages, an artifact) is still recorded as run, by digest.
 */
export async function storeRun(
  indexLocation: string | undefined,
  record: RunRecord,
  image: Image,
): Promise<{ indexed: boolean }> {
  const index = await FleetIndex.open(indexLocation);
  try {
    const known = (await index.byDigest(record.digest)).some((m) => m.match === "manifest");
    let indexed = known;
    if (!known) {
      const location = await sourceLocation(record.image, archiveKind);
      indexed = await index.add(image, record.image, [refOf(location, record.digest)]).then(
        () => true,
        () => false,
      );
    }
    await index.recordRun(record);
    return { indexed };
  } finally {
    await index.close();
  }
}
