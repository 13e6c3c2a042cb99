import { setTimeout as pause } from "node:timers/promises";
import type { ImageDecider } from "./decider.js";

export interface PrecomputeOptions {
  /** How often to look whether the index changed (ms). */
  everyMs: number;
  /** Images warmed at most: no more than the decider keeps, or the last would evict the first. */
  maxImages: number;
  /** Where a failed round is said (it is tried again next time). */
  log?: (line: string) => void;
}

/**
 * Reads, in the background, the facts of the images the index names: at start and after each
 * change of the index, one image at a time, resting between two as long as the last took (at most
 * half the process's time, however busy the index), so that a first review of an indexed image
 * finds them in memory. A round the index changes under stops
 * and the next one starts over with the new state.
 */
export function precomputeFacts(decider: ImageDecider, opts: PrecomputeOptions): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let warmed: string | undefined;
  const round = async () => {
    const stamp = await decider.stamp();
    if (stamp === warmed) return;
    for (const digest of await decider.index.namedDigests(opts.maxImages)) {
      if (stopped || (await decider.stamp()) !== stamp) return;
      const started = performance.now();
      // An image that cannot be read now is decided (or refused) when a review names it.
      await decider.prepare(digest).catch(() => {});
      // Rest as long as the image took: reviews get at least half of the process's time.
      await pause(performance.now() - started);
    }
    warmed = stamp;
  };
  const loop = () => {
    round()
      .catch((err) => {
        // A round cut short by the shutdown (the index closing under it) is no failure.
        if (!stopped) opts.log?.(`strata: admission: precompute: ${(err as Error).message.split("\n")[0]}`);
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, opts.everyMs).unref();
      });
  };
  loop();
  return {
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
