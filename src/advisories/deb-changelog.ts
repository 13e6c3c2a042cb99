import { mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pipeline, Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { createGunzip } from "node:zlib";
import { openDeb } from "../debian/deb.js";
import { cacheRoot } from "../util/dirs.js";
import { StrataError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { checkedSha256Hex } from "../util/verify.js";
import { type ChangelogEntry, ChangelogParser } from "./changelog.js";

/** glibc's changelog.Debian.gz expands to about 1 MB; past this it is not a changelog. */
const MAX_CHANGELOG_BYTES = 64 * 2 ** 20;
export const CHANGELOG_PATH = /^(?:\.\/)?usr\/share\/doc\/[a-z0-9][a-z0-9+.-]*\/changelog\.Debian\.gz$/;

/** Streams a gzipped changelog through the parser: never held whole, bounded once expanded. */
export async function parseGzippedChangelog(
  body: AsyncIterable<Buffer>,
  where: string,
): Promise<ChangelogEntry[]> {
  const gunzip = pipeline(Readable.from(body), createGunzip(), () => {});
  const parser = new ChangelogParser();
  const decoder = new StringDecoder("utf8");
  let total = 0;
  let partial = "";
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > MAX_CHANGELOG_BYTES) throw new Error(`expands past ${MAX_CHANGELOG_BYTES} bytes`);
      const lines = (partial + decoder.write(chunk)).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) parser.line(line);
    }
    parser.line(partial + decoder.end());
    return parser.end();
  } catch (err) {
    gunzip.destroy();
    throw new StrataError("DEB_INVALID", `${where}: changelog.Debian.gz: ${(err as Error).message}`, {
      hint: "the package is damaged or crafted; fetch it again from a trusted mirror",
    });
  }
}

/**
 * The changelog entries a .deb ships (its own `changelog.Debian.gz`, read from data.tar as a
 * stream), or undefined when it ships none (its doc directory is a symlink to a sibling package's).
 */
export async function readDebChangelog(path: string): Promise<ChangelogEntry[] | undefined> {
  const deb = await openDeb(path);
  for await (const { header, body } of deb.dataEntries()) {
    // Awaited inside the loop: leaving it closes data.tar's stream, which the body still reads.
    if (header.type === "file" && CHANGELOG_PATH.test(header.name))
      return await parseGzippedChangelog(body, path);
  }
  return undefined;
}

interface CachedChangelog {
  entries: ChangelogEntry[] | null;
}

function changelogCacheFile(sha256: string, root?: string): string {
  return join(cacheRoot(root), "changelogs", `${checkedSha256Hex(sha256, "changelog cache key")}.json`);
}

/** What the cache holds for a .deb: its entries, null for "ships none", undefined when not cached. */
async function cachedEntries(sha256: string, root?: string): Promise<ChangelogEntry[] | null | undefined> {
  try {
    const cached = JSON.parse(await readFile(changelogCacheFile(sha256, root), "utf8")) as CachedChangelog;
    if (cached.entries === null || Array.isArray(cached.entries)) return cached.entries;
  } catch {
    // Absent or damaged: not cached.
  }
  return undefined;
}

/**
 * Keeps a .deb's changelog entries (undefined: it ships none) under the cache root, written
 * atomically: the layer worker does it as it reads data.tar, so nothing reads the .deb again for them.
 */
export async function storeDebChangelog(
  sha256: string,
  entries: ChangelogEntry[] | undefined,
  root?: string,
): Promise<void> {
  const file = changelogCacheFile(sha256, root);
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, JSON.stringify({ entries: entries ?? null } satisfies CachedChangelog));
}

/**
 * `readDebChangelog` of the .deb with this sha256, cached under the cache root: `debPath` (which
 * may download it) is called only when the cache lacks it; without `debPath`, a miss is undefined.
 */
export async function cachedDebChangelog(
  sha256: string,
  debPath: (() => Promise<string>) | undefined,
  root?: string,
): Promise<ChangelogEntry[] | undefined> {
  const cached = await cachedEntries(sha256, root);
  if (cached !== undefined || debPath === undefined) return cached ?? undefined;
  const entries = await readDebChangelog(await debPath());
  await storeDebChangelog(sha256, entries, root);
  return entries;
}
