import { join } from "node:path";
import { Readable } from "node:stream";
import { ContentStore } from "../util/cas.js";
import { mapLimit } from "../util/concurrency.js";
import { cacheRoot } from "../util/dirs.js";
import { StrataError } from "../util/errors.js";
import { fetchWithRetry } from "../util/http.js";
import type { LockedPackage } from "./lock.js";

export function debStore(root?: string): ContentStore {
  return new ContentStore(join(cacheRoot(root), "debs"));
}

export interface FetchEvent {
  pkg: LockedPackage;
  /** "cached" when the verified .deb was already there. */
  status: "cached" | "downloaded";
}

/**
 * Ensures every locked .deb is in the content-addressed cache, verified by sha256 and size.
 * Downloads run in parallel; each is written atomically, so an interrupted or truncated download
 * leaves no entry. A cached entry that fails verification is dropped and fetched again.
 */
export async function fetchDebs(
  packages: LockedPackage[],
  opts: { cacheRoot?: string; concurrency?: number; onEvent?: (e: FetchEvent) => void } = {},
): Promise<Map<string, string>> {
  const store = debStore(opts.cacheRoot);
  const unique = [...new Map(packages.map((p) => [p.sha256, p])).values()];
  const paths = new Map<string, string>();
  await mapLimit(unique, opts.concurrency ?? 4, async (pkg) => {
    if (await store.has(pkg.sha256, { verify: true, size: pkg.size })) {
      opts.onEvent?.({ pkg, status: "cached" });
    } else {
      await downloadDeb(store, pkg);
      opts.onEvent?.({ pkg, status: "downloaded" });
    }
    paths.set(pkg.sha256, store.path(pkg.sha256));
  });
  return paths;
}

/** Downloads one .deb into the store; a dropped or truncated transfer is tried again, twice. */
async function downloadDeb(store: ContentStore, pkg: LockedPackage, attempts = 3): Promise<void> {
  const url = `${pkg.repository}/${pkg.filename}`;
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetchWithRetry(url, {}, { what: url });
      if (!res.ok || !res.body) {
        await res.body?.cancel();
        throw new StrataError("HTTP", `${url}: HTTP ${res.status} ${res.statusText}`, {
          hint: "the mirror no longer has this version; run `strata lock` to re-resolve",
        });
      }
      await store.putVerified(Readable.fromWeb(res.body as never), pkg.sha256, {
        expectSize: pkg.size,
        what: `${pkg.name} ${pkg.version} (${url})`,
      });
      return;
    } catch (err) {
      const final =
        attempt >= attempts ||
        (err instanceof StrataError && (err.code === "HTTP" || err.code === "NETWORK"));
      if (final) {
        if (err instanceof StrataError) throw err;
        throw new StrataError("NETWORK", `${url}: download failed (${(err as Error).message})`, {
          hint: "check the network and run the command again; nothing partial was cached",
        });
      }
    }
  }
}
