import { FleetIndex } from "./fleet-index.js";

/** Opens the index at `location` (else STRATA_INDEX, else the default), runs `work`, and closes it whatever happens. */
export async function withFleetIndex<T>(
  location: string | undefined,
  work: (index: FleetIndex) => Promise<T>,
): Promise<T> {
  const index = await FleetIndex.open(location);
  try {
    return await work(index);
  } finally {
    await index.close();
  }
}
