import { mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { cacheRoot as defaultCacheRoot } from "../util/dirs.js";
import { StrataError } from "../util/errors.js";
import { writeFileAtomic } from "../util/fs.js";
import { Digester, sha256Hex } from "../util/hash.js";
import { fetchWithRetry } from "../util/http.js";
import { type PackageOrigin, type PackageRecord, packageFromStanza } from "./package.js";
import { type FetchContext, suiteUrl, type VerifiedRelease } from "./release.js";

/** Byte span of one stanza inside the cached Packages file. */
type Span = [start: number, end: number];

interface NameTable {
  /** sha256 of the Packages text the spans point into. */
  packagesSha256: string;
  packages: Record<string, Span[]>;
  /** Virtual name → spans of the stanzas that provide it. */
  provides: Record<string, Span[]>;
}

/**
 * One verified Packages index (repository × suite × component × architecture). The raw text is
 * cached under its sha256 together with a name table, so a warm run reads two files and parses only
 * the stanzas the resolver asks for, never all 63k of bookworm main.
 */
export class PackagesIndex {
  private readonly parsed = new Map<number, PackageRecord>();

  constructor(
    readonly origin: PackageOrigin & { arch: string },
    private readonly text: Buffer,
    private readonly table: NameTable,
  ) {}

  private recordAt([start, end]: Span): PackageRecord {
    let rec = this.parsed.get(start);
    if (!rec) {
      rec = packageFromStanza(this.text.toString("utf8", start, end), this.origin);
      this.parsed.set(start, rec);
    }
    return rec;
  }

  byName(name: string): PackageRecord[] {
    return (this.table.packages[name] ?? []).map((s) => this.recordAt(s));
  }

  providersOf(name: string): PackageRecord[] {
    return (this.table.provides[name] ?? []).map((s) => this.recordAt(s));
  }

  names(): string[] {
    return Object.keys(this.table.packages);
  }
}

/** Finds stanza boundaries and the Package / Provides names without parsing the rest. */
export function buildNameTable(text: Buffer, packagesSha256: string): NameTable {
  const packages: Record<string, Span[]> = Object.create(null);
  const provides: Record<string, Span[]> = Object.create(null);
  const NL = 0x0a;
  let pos = 0;
  const n = text.length;
  while (pos < n) {
    while (pos < n && text[pos] === NL) pos++;
    if (pos >= n) break;
    let end = text.indexOf("\n\n", pos);
    if (end < 0) end = n;
    const span: Span = [pos, end];
    const stanza = text.toString("latin1", pos, end);
    const name = fieldValue(stanza, "Package");
    if (name) (packages[name] ??= []).push(span);
    const prov = fieldValue(stanza, "Provides");
    if (prov) {
      for (const item of prov.split(",")) {
        const virtual = item.trim().split(/[\s(:]/)[0];
        if (virtual) (provides[virtual] ??= []).push(span);
      }
    }
    pos = end + 2;
  }
  return { packagesSha256, packages, provides };
}

function fieldValue(stanza: string, field: string): string | undefined {
  const at = stanza.startsWith(`${field}:`) ? 0 : stanza.indexOf(`\n${field}:`);
  if (at < 0) return undefined;
  const start = at === 0 ? field.length + 1 : at + field.length + 2;
  let end = stanza.indexOf("\n", start);
  if (end < 0) end = stanza.length;
  // Provides can continue over several lines in principle.
  while (end + 1 < stanza.length && (stanza[end + 1] === " " || stanza[end + 1] === "\t")) {
    const next = stanza.indexOf("\n", end + 1);
    end = next < 0 ? stanza.length : next;
  }
  return stanza.slice(start, end).trim();
}

const COMPRESSIONS = [
  { ext: ".gz", decompress: () => createGunzip() },
  {
    ext: ".xz",
    decompress: async () => (await import("node-liblzma")).createUnxz(),
  },
] as const;

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

  const text = await downloadPackages(release, relPath, plain.sha256, plain.size, where);
  const table = buildNameTable(text, plain.sha256);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, "Packages"), text);
  await writeFileAtomic(join(dir, "names.json"), JSON.stringify(table));
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

async function readCachedIndex(dir: string, sha256: string) {
  try {
    const [text, tableJson] = await Promise.all([
      readFile(join(dir, "Packages")),
      readFile(join(dir, "names.json"), "utf8"),
    ]);
    const table = JSON.parse(tableJson) as NameTable;
    if (table.packagesSha256 !== sha256 || sha256Hex(text) !== sha256) throw new Error("stale");
    return { text, table };
  } catch {
    // Missing or corrupt: drop whatever is there and fetch again.
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
}

async function downloadPackages(
  release: VerifiedRelease,
  relPath: string,
  plainSha256: string,
  plainSize: number,
  where: string,
): Promise<Buffer> {
  const base = suiteUrl(release.source, release.suite);
  const available = COMPRESSIONS.filter((c) => release.files.has(relPath + c.ext));
  if (available.length === 0) throw new StrataError("HTTP", `${where}: no .gz or .xz variant in InRelease`);
  const chosen = available[0];
  const compressed = release.files.get(relPath + chosen.ext)!;
  const dirOf = relPath.slice(0, relPath.lastIndexOf("/"));
  const url = release.acquireByHash
    ? `${base}/${dirOf}/by-hash/SHA256/${compressed.sha256}`
    : `${base}/${relPath}${chosen.ext}`;
  const res = await fetchWithRetry(url, {}, { what: url });
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new StrataError("HTTP", `${url}: HTTP ${res.status} ${res.statusText}`);
  }
  const compressedDigest = new Digester();
  const plainDigest = new Digester();
  const chunks: Buffer[] = [];
  try {
    const source = Readable.from(compressedDigest.tap(Readable.fromWeb(res.body as never)));
    const inflated = source.pipe(await chosen.decompress());
    for await (const chunk of inflated) {
      plainDigest.update(chunk as Buffer);
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw new StrataError("HASH_MISMATCH", `${url}: cannot decompress (${(err as Error).message})`, {
      hint: "the download was truncated or tampered with; try again",
    });
  }
  const compressedHex = compressedDigest.hex();
  if (compressedHex !== compressed.sha256 || compressedDigest.size !== compressed.size) {
    throw new StrataError(
      "HASH_MISMATCH",
      `${url}: sha256 ${compressedHex} (${compressedDigest.size} bytes) does not match the signed InRelease (${compressed.sha256}, ${compressed.size} bytes)`,
      { hint: "the index was tampered with or the mirror is inconsistent; nothing was cached" },
    );
  }
  const plainHex = plainDigest.hex();
  if (plainHex !== plainSha256 || plainDigest.size !== plainSize) {
    throw new StrataError(
      "HASH_MISMATCH",
      `${where}: decompressed sha256 ${plainHex} does not match InRelease`,
    );
  }
  return Buffer.concat(chunks, plainDigest.size);
}
