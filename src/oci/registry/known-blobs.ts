import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { cacheRoot } from "../../util/dirs.js";
import { writeFileAtomic } from "../../util/fs.js";
import type { Image } from "../image.js";

/**
 * A local memory of which repositories of a registry hold which blobs, so a push to a new
 * repository can ask for a cross-repository mount instead of uploading bytes the registry already
 * has. It is only a hint: a mount the registry refuses becomes a normal upload.
 *
 * Stored as `<cache>/registry/known-blobs.json`, written atomically; saving merges with what other
 * processes wrote meanwhile. Bounded so it cannot grow without end.
 */

const FORMAT_VERSION = 1;
const MAX_REPOS_PER_BLOB = 8;
const MAX_BLOBS_PER_REGISTRY = 50_000;

type Table = Record<string, Record<string, string[]>>; // registry → digest → repositories (newest last)

export function defaultKnownBlobsFile(cacheDir?: string): string {
  return join(cacheRoot(cacheDir), "registry", "known-blobs.json");
}

async function readTable(file: string): Promise<Table> {
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as { version?: number; registries?: Table };
    return parsed.version === FORMAT_VERSION && parsed.registries ? parsed.registries : {};
  } catch {
    // Missing or unreadable: start empty; the file is a cache of hints.
    return {};
  }
}

function remember(table: Table, registry: string, digest: string, repository: string): void {
  table[registry] ??= {};
  const blobs = table[registry];
  const repos = (blobs[digest] ?? []).filter((r) => r !== repository);
  repos.push(repository);
  // Re-inserting moves the digest to the end, so the oldest entries are the first to go.
  delete blobs[digest];
  blobs[digest] = repos.slice(-MAX_REPOS_PER_BLOB);
  const digests = Object.keys(blobs);
  for (let i = 0; i < digests.length - MAX_BLOBS_PER_REGISTRY; i++) delete blobs[digests[i]];
}

export class KnownBlobs {
  private readonly learned: [registry: string, digest: string, repository: string][] = [];

  private constructor(
    readonly file: string,
    private readonly table: Table,
  ) {}

  static async load(file = defaultKnownBlobsFile()): Promise<KnownBlobs> {
    return new KnownBlobs(file, await readTable(file));
  }

  /** A repository other than `repository` on `registry` known to hold `digest` (the latest seen). */
  otherRepository(registry: string, digest: string, repository: string): string | undefined {
    return this.table[registry]?.[digest]?.filter((r) => r !== repository).at(-1);
  }

  record(registry: string, digest: string, repository: string): void {
    remember(this.table, registry, digest, repository);
    this.learned.push([registry, digest, repository]);
  }

  /** Every blob `images` name, as held by `repository` (a manifest pulled from there names only blobs it has). */
  recordImages(registry: string, repository: string, images: Image[]): void {
    for (const image of images) {
      for (const d of [image.manifest.config, ...image.manifest.layers])
        this.record(registry, d.digest, repository);
    }
  }

  /** Writes what this instance learned on top of the file's current contents. */
  async save(): Promise<void> {
    if (this.learned.length === 0) return;
    const current = await readTable(this.file);
    for (const [registry, digest, repository] of this.learned)
      remember(current, registry, digest, repository);
    await writeFileAtomic(this.file, JSON.stringify({ version: FORMAT_VERSION, registries: current }));
    this.learned.length = 0;
  }
}
