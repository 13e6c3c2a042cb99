import { StrataError } from "../util/errors.js";
import { removeTarget } from "./remove-target.js";
import { parseSyncTarget, type SyncOptions, type SyncReport, syncRegistry } from "./sync.js";
import { withFleetIndex } from "./with-index.js";

/** `strata index sync`: each registry or repository read into the index in turn, with its report. */
export async function syncRegistries(
  targets: string[],
  index: string | undefined,
  opts: SyncOptions,
): Promise<SyncReport[]> {
  const parsed = targets.map(parseSyncTarget);
  return withFleetIndex(index, async (fleet) => {
    const reports: SyncReport[] = [];
    for (const target of parsed) reports.push(await syncRegistry(fleet, target, opts));
    return reports;
  });
}

export interface Removed {
  name: string;
  refs: number;
  images: number;
}

/**
 * `strata index rm`: each name (a digest, a reference, a local image location) taken out of the index in turn;
 * a name the index does not hold stops there, with what was removed before it reported.
 */
export async function removeNames(
  names: string[],
  index: string | undefined,
  onRemoved: (removed: Removed) => void,
): Promise<void> {
  const targets = names.map((name) => ({ name, target: removeTarget(name) }));
  await withFleetIndex(index, async (fleet) => {
    for (const { name, target } of targets) {
      const removed = await fleet.remove(target);
      if (removed.refs === 0)
        throw new StrataError("USAGE", `${name} is not in the index ${fleet.where}`, {
          hint: "see strata index ls",
        });
      onRemoved({ name, ...removed });
    }
  });
}
