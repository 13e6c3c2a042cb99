import { join } from "node:path";
import { type ContentStore, cacheStore } from "../util/cas.js";
import { Limiter } from "../util/concurrency.js";
import { cacheRoot } from "../util/dirs.js";
import { isLocalIoError, StrataError } from "../util/errors.js";
import { BodyTooLongError, fetchWithRetry } from "../util/http.js";

export function debStore(root?: string): ContentStore {
  return cacheStore(join(cacheRoot(root), "debs"));
}

/** What fetching a .deb needs of a locked package (src/lock/lock-schema.ts): where, and what it must be. */
export interface DebToFetch {
  name: string;
  version: string;
  /** The repository's URL: the .deb is at `${repository}/${filename}`. */
  repository: string;
  filename: string;
  sha256: string;
  size: number;
}

export interface FetchEvent<P extends DebToFetch = DebToFetch> {
  pkg: P;
  /** "cached" when the verified .deb was already there. */
  status: "cached" | "downloaded";
}

export interface FetchOptions<P extends DebToFetch = DebToFetch> {
  cacheRoot?: string;
  concurrency?: number;
  onEvent?: (e: FetchEvent<P>) => void;
}

/**
 * Starts making every given .deb available in the content-addressed cache, verified by sha256 and
 * size, and returns a promise of its path per sha256, so a caller can use each .deb as soon as it
 * is there. Downloads run in parallel, the biggest first; each is written atomically, so an
 * interrupted or truncated download leaves no entry. A cached entry that fails verification is
 * dropped and fetched again.
 */
export function startDebFetches<P extends DebToFetch>(
  packages: P[],
  opts: FetchOptions<P> = {},
): Map<string, Promise<string>> {
  const store = debStore(opts.cacheRoot);
  const limiter = new Limiter(opts.concurrency ?? 4);
  const unique = [...new Map(packages.map((p) => [p.sha256, p])).values()].sort((a, b) => b.size - a.size);
  const paths = new Map<string, Promise<string>>();
  for (const pkg of unique) {
    const ready = limiter.run(async () => {
      if (await store.has(pkg.sha256, { verify: true, size: pkg.size })) {
        opts.onEvent?.({ pkg, status: "cached" });
      } else {
        await downloadDeb(store, pkg);
        opts.onEvent?.({ pkg, status: "downloaded" });
      }
      return store.path(pkg.sha256);
    });
    // Callers may await only some; a failure still surfaces through the ones they await.
    ready.catch(() => {});
    paths.set(pkg.sha256, ready);
  }
  return paths;
}

/** Makes every given .deb available in the cache; resolves to their paths by sha256. */
export async function fetchDebs<P extends DebToFetch>(
  packages: P[],
  opts: FetchOptions<P> = {},
): Promise<Map<string, string>> {
  const pending = startDebFetches(packages, opts);
  const paths = new Map<string, string>();
  for (const [sha, ready] of pending) paths.set(sha, await ready);
  return paths;
}

/** Downloads one .deb into the store; a dropped or truncated transfer is tried again, twice. */
async function downloadDeb(store: ContentStore, pkg: DebToFetch, attempts = 3): Promise<void> {
  const url = `${pkg.repository}/${pkg.filename}`;
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetchWithRetry(url, {}, { what: url, maxBytes: pkg.size });
      if (!res.ok || !res.body) {
        await res.body?.cancel();
        throw new StrataError("HTTP", `${url}: HTTP ${res.status} ${res.statusText}`, {
          hint: "the mirror no longer has this version; run `strata lock` to re-resolve",
        });
      }
      // The web stream itself, iterated: a Node stream made of it would emit a body that fails
      // before the store starts reading as an 'error' event nobody listens to yet (a crash).
      await store.putVerified(res.body as AsyncIterable<Uint8Array>, pkg.sha256, {
        expectSize: pkg.size,
        what: `${pkg.name} ${pkg.version} (${url})`,
      });
      return;
    } catch (err) {
      if (isLocalIoError(err)) throw err; // a full disk is not a network problem: say what it is
      const final =
        attempt >= attempts ||
        err instanceof BodyTooLongError ||
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
