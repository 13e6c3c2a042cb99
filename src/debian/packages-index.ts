import { fstatSync, openSync, readSync } from "node:fs";
import { mkdir, readFile, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, pipeline, Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { cacheRoot as defaultCacheRoot } from "../util/dirs.js";
import { StrataError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { Digester, sha256File } from "../util/hash.js";
import { fetchWithRetry } from "../util/http.js";
import { assertDigest, checkedSha256Hex } from "../util/verify.js";
import { xzDecompressor } from "../util/xz.js";
import { buildNameTable, NameTable, type Span } from "./name-table.js";
import { type PackageOrigin, type PackageRecord, packageFromStanza } from "./package.js";
import { type FetchContext, type ReleaseEntry, suiteUrl, type VerifiedRelease } from "./release.js";

/** The text of a Packages index, read a stanza at a time. */
interface PackagesText {
  readonly length: number;
  stanza(start: number, end: number): string;
}

/** A text just downloaded and checked, held whole. */
class HeldText implements PackagesText {
  constructor(private readonly bytes: Buffer) {}

  get length(): number {
    return this.bytes.length;
  }

  stanza(start: number, end: number): string {
    return this.bytes.toString("utf8", start, end);
  }
}

/** What a cached text looked like when it was verified: any write since moves its change time. */
interface Verified {
  ino: bigint;
  size: bigint;
  ctimeNs: bigint;
}

/**
 * A cached text read from its file by span, never whole (bookworm main's is 50 MB and a warm lock
 * reads a few dozen stanzas of it). Each read first checks the file is the one verified (an fstat):
 * a write since is refused, not believed. Open once per file and process: see openText.
 */
class FileText implements PackagesText {
  constructor(
    private readonly fd: number,
    private readonly verified: Verified,
    private readonly path: string,
  ) {}

  get length(): number {
    return Number(this.verified.size);
  }

  stanza(start: number, end: number): string {
    const now = fstatSync(this.fd, { bigint: true });
    const { ino, size, ctimeNs } = this.verified;
    if (now.ino !== ino || now.size !== size || now.ctimeNs !== ctimeNs) {
      throw new StrataError("INDEX_INVALID", `${this.path}: changed since it was verified`, {
        hint: "run the command again (strata checks the index anew)",
      });
    }
    const bytes = Buffer.allocUnsafe(end - start);
    for (let at = 0; at < bytes.length; ) {
      const got = readSync(this.fd, bytes, at, bytes.length - at, start + at);
      if (got === 0)
        throw new StrataError("INDEX_INVALID", `${this.path}: shorter than when it was verified`);
      at += got;
    }
    return bytes.toString("utf8");
  }
}

/** Cached texts open in this process, by path and state: a long-running process opens each once. */
const openTexts = new Map<string, FileText>();

function openText(path: string, st: Verified): FileText {
  const key = `${path}\0${st.ino}\0${st.ctimeNs}`;
  let text = openTexts.get(key);
  if (text === undefined) {
    text = new FileText(openSync(path, "r"), { ino: st.ino, size: st.size, ctimeNs: st.ctimeNs }, path);
    openTexts.set(key, text);
  }
  return text;
}

/**
 * One verified Packages index (repository × suite × component × architecture). The raw text is
 * cached under its sha256 together with a name table, so a warm run reads the table and only the
 * stanzas the resolver asks for, never all 63k of bookworm main.
 */
export class PackagesIndex {
  private readonly parsed = new Map<number, PackageRecord>();

  private readonly text: PackagesText;

  /** `text`: the whole text (just downloaded and checked), or a cached one read by span. */
  constructor(
    readonly origin: PackageOrigin & { arch: string },
    text: Buffer | PackagesText,
    private readonly table: NameTable,
  ) {
    this.text = Buffer.isBuffer(text) ? new HeldText(text) : text;
  }

  private recordAt([start, end]: Span): PackageRecord {
    let rec = this.parsed.get(start);
    if (!rec) {
      if (end > this.text.length) {
        throw new StrataError(
          "INDEX_INVALID",
          `${this.origin.url} ${this.origin.suite}: cached name table points past its index`,
          {
            hint: "remove the cache's indexes directory (strata fetches them again)",
          },
        );
      }
      rec = checkedRecord(packageFromStanza(this.text.stanza(start, end), this.origin));
      this.parsed.set(start, rec);
    }
    return rec;
  }

  byName(name: string): PackageRecord[] {
    return this.table.packages(name).map((s) => this.recordAt(s));
  }

  providersOf(name: string): PackageRecord[] {
    return this.table.provides(name).map((s) => this.recordAt(s));
  }

  names(): string[] {
    return this.table.names();
  }
}

/** The largest .deb strata will download (the biggest in Debian are a few GB). */
const MAX_DEB_SIZE = 2 ** 40;

/**
 * A stanza's fields that reach the cache and the network, validated where they enter: the SHA256
 * names a cache file, Size bounds the download, Filename is a pool path under the repository.
 */
function checkedRecord(rec: PackageRecord): PackageRecord {
  const what = `${rec.origin.url} ${rec.origin.suite}/${rec.origin.component}: package ${JSON.stringify(rec.name).slice(0, 80)}`;
  checkedSha256Hex(rec.sha256, `${what}: SHA256`, "INDEX_INVALID");
  if (!Number.isSafeInteger(rec.size) || rec.size <= 0 || rec.size > MAX_DEB_SIZE) {
    throw new StrataError("INDEX_INVALID", `${what}: Size is not a plausible byte count`);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9+.~_/-]*$/.test(rec.filename) || rec.filename.split("/").includes("..")) {
    throw new StrataError(
      "INDEX_INVALID",
      `${what}: Filename ${JSON.stringify(rec.filename).slice(0, 120)} is not a pool path`,
    );
  }
  return rec;
}

/** The variants strata can read, in the order it tries them; the uncompressed file comes last. */
const COMPRESSIONS = [
  { ext: ".gz", decompress: async () => createGunzip() },
  { ext: ".xz", decompress: async () => xzDecompressor() },
  { ext: "", decompress: async () => new PassThrough() },
] as const;

type Compression = (typeof COMPRESSIONS)[number];

/**
 * Loads `<component>/binary-<arch>/Packages` of a verified release: from the cache when the
 * sha256 the release vouches for is there (and still matches), else fetched (by-hash when offered),
 * decompressed, checked against the signed sha256 and cached.
 */
export async function loadPackagesIndex(
  release: VerifiedRelease,
  component: string,
  arch: string,
  ctx: FetchContext = {},
): Promise<PackagesIndex> {
  const relPath = `${component}/binary-${arch}/Packages`;
  const plain = release.files.get(relPath);
  const origin = { url: release.source.url, suite: release.suite, component, arch };
  const where = `${suiteUrl(release.source, release.suite)}/${relPath}`;
  if (!plain) {
    throw new StrataError("PACKAGE_UNKNOWN", `${where}: not listed in the signed InRelease`, {
      hint: `check that the suite has component "${component}" and architecture "${arch}"`,
    });
  }
  const dir = join(defaultCacheRoot(ctx.cacheRoot), "indexes", plain.sha256);
  const cached = await readCachedIndex(dir, plain.sha256);
  if (cached) return new PackagesIndex(origin, cached.text, cached.table);

  const text = await downloadPackages(release, relPath, plain, where);
  const table = buildNameTable(text, plain.sha256);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, PACKAGES_FILE), text);
  await writeFileAtomic(join(dir, NAMES_FILE), table.bytes);
  await writeStamp(dir, plain.sha256);
  return new PackagesIndex(origin, text, table);
}

/** A verified release's index from the cache alone; undefined when the cache does not hold it. */
export async function cachedPackagesIndex(
  release: VerifiedRelease,
  component: string,
  arch: string,
  ctx: FetchContext = {},
): Promise<PackagesIndex | undefined> {
  const plain = release.files.get(`${component}/binary-${arch}/Packages`);
  if (!plain) return undefined;
  const cached = await readCachedIndex(
    join(defaultCacheRoot(ctx.cacheRoot), "indexes", plain.sha256),
    plain.sha256,
  );
  const origin = { url: release.source.url, suite: release.suite, component, arch };
  return cached && new PackagesIndex(origin, cached.text, cached.table);
}

/** The cache files of one index; `verified.json` vouches for the other two (see readCachedIndex). */
const PACKAGES_FILE = "Packages";
const NAMES_FILE = "names";
const VERIFIED_FILE = "verified.json";

/** What identifies a file's content without reading it: any write changes ctime, a rename the inode. */
type FileStamp = { size: string; ino: string; mtimeNs: string; ctimeNs: string };

interface VerifiedStamp {
  packagesSha256: string;
  files: Record<typeof PACKAGES_FILE | typeof NAMES_FILE, FileStamp>;
}

async function stampOf(path: string): Promise<FileStamp> {
  const st = await stat(path, { bigint: true });
  return { size: `${st.size}`, ino: `${st.ino}`, mtimeNs: `${st.mtimeNs}`, ctimeNs: `${st.ctimeNs}` };
}

async function stampsOf(dir: string): Promise<VerifiedStamp["files"]> {
  const [packages, names] = await Promise.all([
    stampOf(join(dir, PACKAGES_FILE)),
    stampOf(join(dir, NAMES_FILE)),
  ]);
  return { [PACKAGES_FILE]: packages, [NAMES_FILE]: names };
}

/** Whether verified.json (read bounded; anything malformed is just "no") vouches for the files now. */
async function stampStillHolds(dir: string, sha256: string): Promise<boolean> {
  try {
    const path = join(dir, VERIFIED_FILE);
    if ((await stat(path)).size > 4096) return false;
    const recorded = JSON.parse(await readFile(path, "utf8")) as VerifiedStamp;
    const now = await stampsOf(dir);
    return recorded?.packagesSha256 === sha256 && JSON.stringify(recorded.files) === JSON.stringify(now);
  } catch {
    return false;
  }
}

/** Records, after the Packages text was hashed against the signed sha256, what the files look like. */
async function writeStamp(dir: string, sha256: string): Promise<void> {
  const stamp: VerifiedStamp = { packagesSha256: sha256, files: await stampsOf(dir) };
  await writeFileAtomic(join(dir, VERIFIED_FILE), JSON.stringify(stamp));
}

/**
 * A cached index, its Packages text hashed against the signed sha256 unless verified.json records
 * it was, and neither file changed since (same size, inode, mtime and ctime: any write to a file
 * moves its ctime, which no user call can set back). That is the trust apt gives its own lists,
 * which it never re-hashes; it spares a warm lock re-hashing 50 MB of bookworm main every run.
 */
async function readCachedIndex(dir: string, sha256: string) {
  try {
    const path = join(dir, PACKAGES_FILE);
    const [names, st] = await Promise.all([readFile(join(dir, NAMES_FILE)), stat(path, { bigint: true })]);
    const table = new NameTable(names);
    if (table.packagesSha256 !== sha256) throw new Error("stale");
    // Checked after the table's read: a write racing it moves ctime, so the text gets hashed.
    if (!(await stampStillHolds(dir, sha256))) {
      if ((await sha256File(path)).hex !== sha256) throw new Error("stale");
      // Best effort: a read-only cache is still a good cache, only hashed every time.
      await writeStamp(dir, sha256).catch(() => {});
    }
    return { text: openText(path, st), table };
  } catch {
    // Missing or corrupt: drop whatever is there and fetch again.
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
}

/**
 * Fetches a Packages index the release lists, as apt does on a mirror caught mid-sync: each variant
 * the release lists (by-hash first when offered, then its plain path); a 404 moves on to the next.
 */
async function downloadPackages(
  release: VerifiedRelease,
  relPath: string,
  plain: ReleaseEntry,
  where: string,
): Promise<Buffer> {
  const base = suiteUrl(release.source, release.suite);
  const dirOf = relPath.slice(0, relPath.lastIndexOf("/"));
  const tried: string[] = [];
  for (const variant of COMPRESSIONS) {
    const listed = release.files.get(relPath + variant.ext);
    if (!listed) continue;
    const urls = [`${base}/${relPath}${variant.ext}`];
    if (release.acquireByHash) urls.unshift(`${base}/${dirOf}/by-hash/SHA256/${listed.sha256}`);
    for (const url of urls) {
      const res = await fetchWithRetry(url, {}, { what: url, maxBytes: listed.size });
      if (res.status === 404) {
        await res.body?.cancel();
        tried.push(url);
        continue;
      }
      if (!res.ok || !res.body) {
        await res.body?.cancel();
        throw new StrataError("HTTP", `${url}: HTTP ${res.status} ${res.statusText}`);
      }
      return readIndex(res.body, variant, { url, listed, plain, where });
    }
  }
  throw new StrataError(
    "HTTP",
    `${where}: no variant the InRelease lists could be fetched (404: ${tried.join(", ") || "none listed"})`,
    {
      hint: "the mirror may be mid-sync; try again later or use another mirror",
    },
  );
}

/** Decompresses a fetched index, bounded by and checked against the sizes and hashes the release signs. */
async function readIndex(
  body: ReadableStream<Uint8Array>,
  variant: Compression,
  expect: { url: string; listed: ReleaseEntry; plain: ReleaseEntry; where: string },
): Promise<Buffer> {
  const { url, listed, plain, where } = expect;
  const compressedDigest = new Digester();
  const plainDigest = new Digester();
  const chunks: Buffer[] = [];
  try {
    // The web stream itself, iterated (see fetch-debs.ts: no Node stream to emit an early error).
    const source = Readable.from(compressedDigest.tap(body as AsyncIterable<Uint8Array>));
    // pipeline, not pipe: a download that fails (idle, too long) must fail the loop, not stall it.
    const inflated = pipeline(source, await variant.decompress(), () => {});
    for await (const chunk of inflated) {
      plainDigest.update(chunk as Buffer);
      // A decompression bomb stops at the signed size, not at the end of memory.
      if (plainDigest.size > plain.size) {
        inflated.destroy();
        throw new StrataError(
          "SIZE_MISMATCH",
          `${url} does not match the signed InRelease: decompresses to more than ${plain.size} bytes`,
          { hint: "the index was tampered with or the mirror is inconsistent; nothing was cached" },
        );
      }
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw new StrataError("HASH_MISMATCH", `${url}: cannot decompress (${(err as Error).message})`, {
      hint: "the download was truncated or tampered with; try again",
    });
  }
  assertDigest(
    `${url} does not match the signed InRelease`,
    { hex: compressedDigest.hex(), size: compressedDigest.size },
    { hex: listed.sha256, size: listed.size },
  );
  assertDigest(
    `${where} (decompressed) does not match the signed InRelease`,
    { hex: plainDigest.hex(), size: plainDigest.size },
    { hex: plain.sha256, size: plain.size },
  );
  return Buffer.concat(chunks, plainDigest.size);
}
