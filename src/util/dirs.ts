import { homedir } from "node:os";
import { join } from "node:path";

/**
 * strata's cache root: $STRATA_CACHE_DIR, else $XDG_CACHE_HOME/strata, else ~/.cache/strata.
 * Everything below it is content-addressed or keyed by a digest, so it is safe to share and to delete.
 */
export function cacheRoot(override?: string): string {
  if (override) return override;
  if (process.env.STRATA_CACHE_DIR) return process.env.STRATA_CACHE_DIR;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), ".cache"), "strata");
}
