import { constants } from "node:fs";
import { access, mkdir, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve, sep } from "node:path";
import { StrataError } from "./errors.js";

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

/** strata's data directory (kept, unlike the cache): $XDG_DATA_HOME/strata, else ~/.local/share/strata. */
export function dataRoot(): string {
  const xdg = process.env.XDG_DATA_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(homedir(), ".local", "share"), "strata");
}

/**
 * Makes sure the cache root is a directory strata can write, before any work: one clear error
 * naming it otherwise. Made one level at a time, since a recursive mkdir under /proc never returns.
 */
export async function prepareCacheRoot(dir: string): Promise<string> {
  const root = resolve(dir);
  const fail = (why: string) =>
    new StrataError("IO", `cannot use ${root} as the cache directory: ${why}`, {
      hint: "point --cache-dir or STRATA_CACHE_DIR at a directory you can write",
    });
  const levels = root.split(sep).filter(Boolean);
  for (let i = 1; i <= levels.length; i++) {
    const path = sep + levels.slice(0, i).join(sep);
    try {
      await mkdir(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") throw fail(code ?? String(err));
      const info = await stat(path).catch(() => undefined);
      if (!info?.isDirectory()) throw fail(`${path} is not a directory`);
    }
  }
  try {
    await access(root, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw fail((err as NodeJS.ErrnoException).code ?? String(err));
  }
  return root;
}
