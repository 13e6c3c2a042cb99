import { createReadStream } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { StrataError } from "./errors.js";
import { tempPathFor, writeFileAtomic, writeStreamAtomic } from "./fs.js";
import { Digester, sha256File } from "./hash.js";
import { assertDigest, checkedSha256Hex, SHA256_HEX } from "./verify.js";

/** Files this process hashed to their names, as stat saw them before the hashing. */
interface Verified {
  hex: string;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}
const verifiedHere = new Map<string, Verified>();
const MAX_REMEMBERED = 100_000;
const bigStat = (path: string) => stat(path, { bigint: true });

/**
 * The digest and size of the file at `placed` (by default `path` itself; else a hardlink of it just
 * made) when this process hashed `path` to `hex` (a store entry it verified) and `placed` is that
 * very file unchanged: the same inode, size and modification time, and for `path` itself the same
 * change time (a link changes a file's change time, so a link is held to the inode: a file swapped
 * in or copied is another inode, and hashed). Undefined otherwise. A writer placing a just-verified
 * cache blob need not read it again.
 */
export async function verifiedInThisProcess(
  path: string,
  hex: string,
  placed = path,
): Promise<{ hex: string; size: number } | undefined> {
  const known = verifiedHere.get(path);
  if (known === undefined || known.hex !== hex) return undefined;
  const now = await bigStat(placed).catch(() => undefined);
  if (now === undefined) return undefined;
  const same = now.ino === known.ino && now.size === known.size && now.mtimeNs === known.mtimeNs;
  return same && (placed !== path || now.ctimeNs === known.ctimeNs)
    ? { hex, size: Number(now.size) }
    : undefined;
}

/**
 * A content-addressed store of files named by their sha256 (`<root>/sha256/<hex>`), shared by the
 * .deb cache and the layer blob cache. Writes are atomic (temp file, verify, rename), so a killed
 * process leaves no entry at all rather than a torn one. Reads can be verified; an entry whose bytes
 * do not match its name is removed so the caller fetches it again.
 *
 * A store made with `sealed` (strata's own caches, never an OCI layout) keeps beside each entry it
 * wrote or hashed a seal, `<root>/seals/<hex>`: the entry's inode, size and modification time then.
 * A verified read whose entry still matches its seal is not hashed again: a write through the file
 * system moves the modification time, a file renamed over the entry is another inode, so what
 * changed is hashed (and dropped if it no longer matches). The change time is not part of the seal,
 * as in containerd's content store none of this stands against someone who can write the cache: a
 * build hardlinks cache blobs into its layout, which moves their change time every time.
 */
export class ContentStore {
  constructor(
    readonly root: string,
    private readonly opts: { sealed?: boolean } = {},
  ) {}

  /** Where entry `hex` lives; any key that is not 64 hex characters is refused (it could name a path). */
  path(hex: string): string {
    return join(this.root, "sha256", checkedSha256Hex(hex, `${this.root}: cache key`));
  }

  /** True when an entry exists; with `verify`, only when its bytes hash to its name (else it is dropped). */
  async has(hex: string, opts: { verify?: boolean; size?: number } = {}): Promise<boolean> {
    const p = this.path(hex);
    let before: Awaited<ReturnType<typeof bigStat>>;
    try {
      before = await bigStat(p);
    } catch {
      return false;
    }
    const size = Number(before.size);
    if (opts.size !== undefined && size !== opts.size) {
      await this.drop(hex);
      return false;
    }
    if (opts.verify) {
      if (!(await this.sealHolds(hex, before))) {
        const got = await sha256File(p);
        if (got.hex !== hex) {
          await this.drop(hex);
          return false;
        }
        await this.seal(hex, before);
      }
      if (verifiedHere.size >= MAX_REMEMBERED) verifiedHere.clear();
      const { ino, size: bytes, mtimeNs, ctimeNs } = before;
      verifiedHere.set(p, { hex, ino, size: bytes, mtimeNs, ctimeNs });
    }
    return true;
  }

  private sealPath(hex: string): string {
    return join(this.root, "seals", checkedSha256Hex(hex, `${this.root}: cache key`));
  }

  private static sealText(st: { ino: bigint; size: bigint; mtimeNs: bigint }): string {
    return `${st.ino} ${st.size} ${st.mtimeNs}\n`;
  }

  /** True when a sealed store's entry is the very file it hashed (or wrote) before, unchanged since. */
  private async sealHolds(hex: string, now: Awaited<ReturnType<typeof bigStat>>): Promise<boolean> {
    if (!this.opts.sealed) return false;
    const text = await readFile(this.sealPath(hex), "utf8").catch(() => undefined);
    return text === ContentStore.sealText(now);
  }

  /** Records that the entry, as `st` saw it, holds the bytes its name says. */
  private async seal(hex: string, st: { ino: bigint; size: bigint; mtimeNs: bigint }): Promise<void> {
    if (this.opts.sealed) await writeFileAtomic(this.sealPath(hex), ContentStore.sealText(st));
  }

  /** Seals the entry just put in place by this process (its bytes were hashed as they were written). */
  private async sealWritten(hex: string): Promise<void> {
    if (this.opts.sealed) await this.seal(hex, await bigStat(this.path(hex)));
  }

  private async drop(hex: string): Promise<void> {
    await rm(this.path(hex), { force: true });
    if (this.opts.sealed) await rm(this.sealPath(hex), { force: true });
  }

  open(hex: string): Readable {
    return createReadStream(this.path(hex), { highWaterMark: 1 << 20 });
  }

  /**
   * The verified bytes of a small blob a layer record names (`what` it is, for the error): a record
   * whose blob is gone or damaged is a cache to rebuild, not a build that goes on without it.
   */
  async readRecorded(hex: string, what: string): Promise<Buffer> {
    if (!SHA256_HEX.test(hex) || !(await this.has(hex, { verify: true }))) {
      throw new StrataError("IO", `${what} is missing from the cache`, {
        hint: "remove the cache directory's layers/ and build again",
      });
    }
    const chunks: Buffer[] = [];
    for await (const chunk of this.open(hex)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * Stores a stream whose sha256 must be `expectHex` (and size `expectSize`, when given). A mismatch
   * throws HASH_MISMATCH / SIZE_MISMATCH and stores nothing.
   */
  async putVerified(
    source: Readable | AsyncIterable<Uint8Array>,
    expectHex: string,
    opts: { expectSize?: number; what?: string } = {},
  ): Promise<string> {
    const target = this.path(expectHex);
    const hashing = new Digester();
    const what = opts.what ?? `sha256:${expectHex}`;
    await writeStreamAtomic(target, hashing.tap(source), () =>
      assertDigest(
        what,
        { hex: hashing.hex(), size: hashing.size },
        { hex: expectHex, size: opts.expectSize },
      ),
    );
    await this.sealWritten(expectHex);
    return target;
  }

  /** Stores a stream of unknown digest; returns its sha256 and size once it is in place. */
  async put(source: Readable | AsyncIterable<Uint8Array>): Promise<{ hex: string; size: number }> {
    await mkdir(join(this.root, "sha256"), { recursive: true });
    const staging = tempPathFor(join(this.root, "sha256", "incoming"));
    const hashing = new Digester();
    let hex = "";
    await writeStreamAtomic(staging, hashing.tap(source), () => {
      hex = hashing.hex();
    });
    try {
      await rename(staging, this.path(hex));
    } catch (err) {
      await rm(staging, { force: true });
      throw err;
    }
    await this.sealWritten(hex);
    return { hex, size: hashing.size };
  }

  /**
   * Removes temp files that a killed process left behind (never entries: those are complete or
   * absent). Only files older than `maxAgeMs` go, so a concurrent strata's downloads are safe.
   */
  async sweepStale(maxAgeMs = 60 * 60 * 1000): Promise<number> {
    const cutoff = Date.now() - maxAgeMs;
    let removed = 0;
    for (const dir of [join(this.root, "sha256"), join(this.root, "seals")]) {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.filter((n) => n.startsWith(".") && n.includes(".tmp-"))) {
        const info = await stat(join(dir, name)).catch(() => undefined);
        if (info && info.mtimeMs < cutoff) {
          await rm(join(dir, name), { force: true });
          removed++;
        }
      }
    }
    return removed;
  }
}

/** One of strata's own caches (.debs, layer blobs, recorded facts): a sealed store. */
export function cacheStore(root: string): ContentStore {
  return new ContentStore(root, { sealed: true });
}
