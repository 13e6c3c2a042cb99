import { createHash } from "node:crypto";
import { PassThrough, Readable, Transform, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CHANGELOG_PATH, parseGzippedChangelog, storeDebChangelog } from "../advisories/deb-changelog.js";
import { type DebTarEntry, openDeb } from "../debian/deb.js";
import { parseStanza, type Stanza, singleStanzaDefect } from "../debian/deb822.js";
import { parseRelation } from "../debian/relations.js";
import { type CaCertificate, caCertificateFacts, packagedCertificates } from "../effects/ca-certificates.js";
import { type PathFact, recordScriptFacts } from "../effects/script-facts.js";
import { keepLayerDetails } from "../inventory/layer-details.js";
import type { LayerEntry as ReadEntry } from "../inventory/layer-entries.js";
import { type Compression, createCompressor, layerMediaType } from "../oci/compress.js";
import { TarWriter } from "../oci/tar.js";
import { ContentStore } from "../util/cas.js";
import { isStrataError, StrataError } from "../util/errors.js";
import { Digester, sha256File } from "../util/hash.js";
import { assertDigest } from "../util/verify.js";
import { BodySpool, type SpooledBody } from "./spool.js";

/**
 * One .deb becomes one layer, byte for byte the same on every run and machine (design.md §1-3).
 *
 * The layer's bytes are a function of: the .deb, the epoch, keepDocs, the compression identity and
 * LAYER_FORMAT_VERSION. Bump the version whenever a change here alters any output byte.
 *
 * Canonical form of every layer strata writes (writeLayer):
 * - entries sorted by the bytewise order of their UTF-8 path (no trailing "/"), which also puts
 *   every directory before its contents; each missing parent directory is added as 0755 0:0;
 * - every mtime is the caller's epoch; owners numeric, names empty; modes as given (07777 mask);
 * - no path twice; within a group of hardlinks, the first path in that order carries the body and
 *   the others link to it.
 *
 * The version is also on every layer descriptor strata writes, and accounting refuses layers of
 * another (4: the descriptors' packages JSON, facts, options and inputs moved to the image record;
 * the bytes did not change).
 */
export const LAYER_FORMAT_VERSION = 4;

/**
 * The version of what PackageFacts holds: part of the layer cache key, so older records miss (7:
 * the maintainer scripts, the layer's paths and the bodies the scripts read or change the mode or
 * owner of, the debconf config script and defaults, the certificate facts). The layer's bytes do
 * not depend on it.
 */
export const FACTS_VERSION = 7;

export interface LayerEntry {
  /** Relative, normalised path (no "./", no trailing "/"). */
  path: string;
  type: "file" | "dir" | "symlink" | "hardlink";
  mode: number;
  uid: number;
  gid: number;
  /** Symlink target (as stored), or the path of the hardlinked file entry. */
  linkname?: string;
  /** File contents; absent means empty (unless spooled). */
  body?: Uint8Array;
  /** File contents waiting on disk (a package's bodies past the spool's memory budget). */
  spooled?: SpooledBody;
}

export interface LayerBlob {
  /** sha256 of the compressed blob, which is in the ContentStore under this digest. */
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar. */
  diffId: string;
  mediaType: string;
  /** Non-directory paths of the layer, sorted as in the tar; for file-conflict detection. */
  files: string[];
  /** Directory paths of the layer, sorted as in the tar; for type-conflict detection. */
  dirs: string[];
}

/** What a layer of packages holds besides its bytes: enough for file-conflict and script reports. */
export interface PackageFacts {
  package: string;
  version: string;
  architecture: string;
  /** Maintainer scripts the package ships (preinst, postinst, ...), which strata does not run. */
  scripts: string[];
  /** Package names its Replaces field names (Policy 7.6), for allowed file overlaps. */
  replaces: string[];
  /** Its preinst and postinst, followed (never run) when an image is put together. */
  maintainerScripts: {
    preinst?: string;
    postinst?: string;
    config?: string;
    debconf?: Record<string, string>;
  };
  /** Every path of its layer (type, mode, owner, link target): the tree its scripts see. */
  paths: PathFact[];
  /** Its files its scripts read (path → sha256 in the ContentStore), e.g. a page nginx copies. */
  bodies: Record<string, string>;
  /**
   * The CA bundle its certificates make (usr/share/ca-certificates/**.crt in path order), stored in
   * the ContentStore: what update-ca-certificates would write. Only ca-certificates has one.
   */
  caBundle?: { sha256: string; certificates: number };
  /** Its certificate files' names, DER digests and subject hashes (src/effects/ca-certificates.ts). */
  caCertificates?: CaCertificate[];
}

/** A layer of one package, or of a group of packages when the image is over its layer budget. */
export interface PackageLayerRecord extends LayerBlob {
  members: PackageFacts[];
  /** The members' facts as the image record holds them (src/record/layer-facts.ts), once encoded. */
  factsAnnotation?: string;
}

export interface LayerWriteOptions {
  /** ContentStore root. */
  store: string;
  /** mtime of every entry, seconds. */
  epoch: number;
  compression: Compression;
  /** Names the layer in errors, e.g. the package name. */
  what: string;
  /** The cache root where the layer's SBOM details are kept as it is written; none: not kept. */
  cacheRoot?: string;
}

/** Plain data in, plain data out: callable from a worker thread. */
export interface PackageLayerInput {
  debPath: string;
  /** Expected sha256 (hex) of the .deb; a mismatch is HASH_MISMATCH. */
  debSha256: string;
  store: string;
  epoch: number;
  compression: Compression;
  keepDocs: boolean;
  /** What the lock says the .deb is; its control stanza must say the same. */
  locked: { name: string; version: string; architecture: string };
  /**
   * The cache root where the .deb's changelog entries (for VEX) and the layer's SBOM details are
   * kept as the layer is made; none: not kept.
   */
  cacheRoot?: string;
}

/** Directories that merged-/usr turns into symlinks to usr/<dir> (design.md §2). */
export const MERGED_USR_DIRS: readonly string[] = [
  "bin",
  "sbin",
  "lib",
  "lib32",
  "lib64",
  "libx32",
  "libo32",
];

const DOC_TREE = "usr/share/doc";
const DROPPED_TREES = [
  DOC_TREE,
  "usr/share/man",
  "usr/share/info",
  "usr/share/locale",
  "usr/share/lintian",
  "usr/share/doc-base",
];
const STATUS_DIR = "var/lib/dpkg/status.d";

/** A package's layer entries (data, status.d records) and facts, before they are written. */
export async function packageEntries(
  input: PackageLayerInput,
  spool: BodySpool,
): Promise<{ entries: LayerEntry[]; facts: PackageFacts }> {
  assertDigest(input.debPath, await sha256File(input.debPath), { hex: input.debSha256 });
  const { deb, stanza, reader } = await readDeb(input, spool);
  const { name, version, architecture } = input.locked;
  await keepChangelog(reader.firstFile(CHANGELOG_PATH), input);
  const entries = reader.entries(input.keepDocs);

  const md5sums = deb.control.md5sums ?? reader.md5sums(deb.control.conffiles);
  entries.push(
    statusFile(`${STATUS_DIR}/${name}`, statusStanza(deb.control.control)),
    statusFile(`${STATUS_DIR}/${name}.md5sums`, md5sums),
  );
  const scripts = Object.keys(deb.control.scripts).sort();
  const replaces = parseRelation(stanza.get("Replaces"))
    .flat()
    .map((alt) => alt.name);
  const pkg = { name, version, architecture };
  const controlTexts = { ...deb.control.scripts, templates: deb.control.templates };
  const scriptFacts = await recordScriptFacts(pkg, controlTexts, entries, {
    storeRoot: input.store,
    readBody: entryBytes,
  });
  const facts: PackageFacts = { package: name, version, architecture, scripts, replaces, ...scriptFacts };
  const caBundle = await storeCaBundle(entries, input.store);
  if (caBundle) facts.caBundle = caBundle;
  const caCertificates = caCertificateFacts(
    await Promise.all(
      packagedCertificates(entries).map(async (e) => ({ path: e.path, body: await entryBytes(e) })),
    ),
  );
  if (caCertificates.length > 0) facts.caCertificates = caCertificates;
  return { entries, facts };
}

/** The .deb read once, front to back: its control checked, then data.tar's entries collected. */
async function readDeb(input: PackageLayerInput, spool: BodySpool) {
  const deb = await openDeb(input.debPath, { readOnce: true });
  try {
    const stanza = checkedControl(input, deb.control.control);
    const reader = new PackageReader(input.locked.name, deb.control.md5sums === undefined, spool);
    for await (const { header, body } of deb.dataEntries()) await reader.add(header, body);
    return { deb, stanza, reader };
  } finally {
    deb.close();
  }
}

/**
 * The .deb's changelog entries, kept in the cache as the layer is made (the docs themselves are
 * dropped): VEX at build then reads no .deb. A changelog that does not parse is not kept; what
 * reads it later meets the error itself.
 */
async function keepChangelog(entry: LayerEntry | undefined, input: PackageLayerInput): Promise<void> {
  if (input.cacheRoot === undefined) return;
  try {
    const body = entry && (await entryBytes(entry));
    const chunks = async function* () {
      if (body) yield body;
    };
    const parsed = body && (await parseGzippedChangelog(chunks(), input.debPath));
    await storeDebChangelog(input.debSha256, parsed || undefined, input.cacheRoot);
  } catch (err) {
    if (!isStrataError(err)) throw err;
  }
}

/**
 * A cached layer is keyed by the .deb's sha256 alone, so a lock that names that .deb differently
 * from its control (checked when the layer was built) is refused here, as a cold build would refuse it.
 */
export function assertLockedMembers(record: PackageLayerRecord, locked: PackageLayerInput["locked"][]): void {
  for (const want of locked) {
    const got = record.members.find((m) => m.package === want.name);
    if (got?.version !== want.version || got.architecture !== want.architecture) {
      const is = got
        ? `${got.package} ${got.version} ${got.architecture}`
        : record.members.map((m) => m.package).join(",");
      throw new StrataError(
        "LOCK_INVALID",
        `the lock says ${want.name} ${want.version} ${want.architecture}, but its .deb is ${is}`,
        { hint: "run `strata lock` to write the lock again" },
      );
    }
  }
}

/**
 * The control stanza, checked before it reaches status.d, where scanners take it as the truth:
 * exactly one well-formed stanza, no Status of its own, and the package the lock names.
 */
function checkedControl(input: PackageLayerInput, control: string): Stanza {
  const refuse = (why: string) =>
    new StrataError("DEB_INVALID", `${input.debPath}: control: ${why}`, {
      hint: "the .deb is not the package its repository's signed index describes; do not use this mirror",
    });
  const defect = singleStanzaDefect(control);
  if (defect) throw refuse(defect);
  const stanza = parseStanza(control);
  if ([...stanza.keys()].some((k) => k.toLowerCase() === "status")) throw refuse("it has a Status field");
  const { name, version, architecture } = input.locked;
  if (!/^[a-z0-9][a-z0-9+.-]+$/.test(name)) throw refuse(`bad package name "${name}"`);
  for (const [field, want] of [
    ["Package", name],
    ["Version", version],
    ["Architecture", architecture],
  ]) {
    const got = stanza.get(field);
    if (got !== want) throw refuse(`${field} is "${got ?? ""}" where the lock says "${want}"`);
  }
  return stanza;
}

/** Concatenates the packaged CA certificates (path order) into a bundle blob, if there are any. */
async function storeCaBundle(entries: LayerEntry[], storeRoot: string): Promise<PackageFacts["caBundle"]> {
  const certs = packagedCertificates(entries);
  if (certs.length === 0) return undefined;
  async function* bundle(): AsyncGenerator<Uint8Array> {
    for (const cert of certs) {
      let last: number | undefined;
      for await (const chunk of bodyChunks(cert)) {
        last = chunk.at(-1) ?? last;
        yield chunk;
      }
      if (last !== 0x0a) yield Buffer.from("\n");
    }
  }
  const { hex } = await new ContentStore(storeRoot).put(bundle());
  return { sha256: hex, certificates: certs.length };
}

/** A file entry's bytes, from memory or from its spool. */
async function* bodyChunks(entry: LayerEntry): AsyncGenerator<Uint8Array> {
  if (entry.spooled) yield* entry.spooled.spool.read(entry.spooled);
  else if (entry.body && entry.body.length > 0) yield entry.body;
}

/** A small file entry's whole bytes (certificates, scripts' sources): only for files known to be small. */
async function entryBytes(entry: LayerEntry): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of bodyChunks(entry)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

function bodySize(entry: LayerEntry): number {
  return entry.spooled?.size ?? entry.body?.length ?? 0;
}

export async function buildPackageLayer(input: PackageLayerInput): Promise<PackageLayerRecord> {
  const spool = new BodySpool(input.store);
  try {
    const { entries, facts } = await packageEntries(input, spool);
    const blob = await writeLayer(entries, { ...input, what: facts.package });
    return { ...blob, members: [facts] };
  } finally {
    await spool.remove();
  }
}

/** The control stanza as dpkg's status file has it: `Status:` right after `Package:`. */
export function statusStanza(control: string): string {
  const lines = control.replace(/\s+$/, "").split("\n");
  const at = lines.findIndex((line) => line.startsWith("Package:"));
  lines.splice(at + 1, 0, "Status: install ok installed");
  return `${lines.join("\n")}\n`;
}

function statusFile(path: string, text: string): LayerEntry {
  return { path, type: "file", mode: 0o644, uid: 0, gid: 0, body: Buffer.from(text, "utf8") };
}

/**
 * Collects a package's data.tar entries: normalises paths, applies the merged-/usr rewrite, refuses
 * unsafe entries, resolves hardlinks to the file they share, and remembers what md5sums needs.
 */
class PackageReader {
  private readonly byPath = new Map<string, LayerEntry>();
  /** Paths that came from a merged-/usr directory (they lose to a twin that was shipped under usr/). */
  private readonly relocated = new Set<string>();
  /** Archive path → md5, for regular files and hardlinks, in archive order. */
  private readonly digests: [string, string][] = [];
  private readonly md5ByFile = new Map<string, string>();

  constructor(
    private readonly pkg: string,
    /** Only packages without md5sums need them computed (dpkg-deb stopped requiring them). */
    private readonly computeMd5sums: boolean,
    private readonly spool: BodySpool,
  ) {}

  async add(header: DebTarEntry["header"], body: DebTarEntry["body"]): Promise<void> {
    // tar-stream gives null, not "", for entries without a link name, whatever its types say.
    const linkname: string = header.linkname ?? "";
    const archivePath = normalisePath(header.name, this.pkg);
    if (archivePath === "") return; // the root directory "./"
    const type = entryType(header.type, this.pkg, archivePath);
    const path = mergedUsrPath(archivePath);
    const base = { mode: header.mode, uid: header.uid, gid: header.gid };

    if (MERGED_USR_DIRS.includes(archivePath)) {
      // The base layer holds the symlink bin -> usr/bin; a package's own copy of it is dropped.
      const target = linkname.replace(/^\//, "").replace(/\/$/, "");
      if (type === "dir" || (type === "symlink" && target === `usr/${archivePath}`)) return;
      throw unsafe(this.pkg, archivePath, "conflicts with the merged-/usr symlink");
    }

    if (type !== "dir" && mustBeDirectory(path)) {
      throw unsafe(this.pkg, archivePath, `would replace the directory /${path} of the layers below`);
    }
    if (type !== "dir" && path.startsWith("var/lib/dpkg/")) {
      // Scanners take what is there as the truth about the image: only strata writes it (status.d).
      throw unsafe(this.pkg, archivePath, "a package may not ship files in dpkg's database");
    }

    let entry: LayerEntry;
    if (type === "hardlink") {
      const target = mergedUsrPath(normalisePath(linkname, this.pkg));
      const linked = this.byPath.get(target);
      if (!linked || (linked.type !== "file" && linked.type !== "hardlink")) {
        throw unsafe(this.pkg, archivePath, `hardlink target ${linkname} is not a file of the package`);
      }
      const root = linked.type === "hardlink" ? linked.linkname! : target;
      entry = { path, type, ...base, linkname: root };
      if (this.computeMd5sums) this.digests.push([archivePath, this.md5ByFile.get(root)!]);
    } else if (type === "symlink") {
      // Judged where the package put it too: bin/x -> ../../etc climbs, even though usr/bin/x would not.
      if (!linkname.startsWith("/") && !resolveLexically(parentParts(archivePath), linkname)) {
        throw unsafe(this.pkg, archivePath, `symlink target "${linkname}" climbs above the root`);
      }
      entry = { path, type, ...base, linkname: relocatedSymlinkTarget(archivePath, path, linkname) };
    } else if (type === "file") {
      const md5 = this.computeMd5sums ? createHash("md5") : undefined;
      const kept = await this.spool.take(body, header.size ?? 0, (chunk) => md5?.update(chunk));
      entry = { path, type, ...base, ...kept };
      if (md5) {
        const hex = md5.digest("hex");
        this.md5ByFile.set(path, hex);
        this.digests.push([archivePath, hex]);
      }
    } else {
      entry = { path, type, ...base };
    }
    this.put(entry, path !== archivePath);
  }

  /** The first regular file, in archive order, whose path matches (docs included). */
  firstFile(pattern: RegExp): LayerEntry | undefined {
    for (const e of this.byPath.values()) if (e.type === "file" && pattern.test(e.path)) return e;
    return undefined;
  }

  /** The entries to write, docs dropped unless kept; hardlink groups re-rooted where docs went. */
  entries(keepDocs: boolean): LayerEntry[] {
    const all = [...this.byPath.values()];
    if (keepDocs) return all;
    const kept = all.filter((e) => e.type !== "dir" && !isDroppedDoc(e.path));
    const keptDirs = new Set(kept.flatMap((e) => ancestors(e.path)));
    const dirs = all.filter((e) => e.type === "dir" && (!isDroppedDoc(e.path) || keptDirs.has(e.path)));
    return [...dirs, ...rerootHardlinks(kept, this.byPath)];
  }

  /** md5sums as dh_md5sums writes them, for packages that ship none: regular files but conffiles. */
  md5sums(conffiles: string[]): string {
    const skip = new Set(conffiles.map((c) => c.replace(/^\//, "")));
    return this.digests
      .filter(([path]) => !skip.has(path))
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
      .map(([path, md5]) => `${md5}  ${path}\n`)
      .join("");
  }

  private put(entry: LayerEntry, relocated: boolean): void {
    const existing = this.byPath.get(entry.path);
    if (existing) {
      if (existing.type !== "dir" || entry.type !== "dir") {
        throw unsafe(this.pkg, entry.path, "shipped twice (after the merged-/usr rewrite)");
      }
      // Both bin/x/ and usr/bin/x/: the usr/ one describes the real directory.
      if (relocated || !this.relocated.has(entry.path)) return;
    }
    this.byPath.set(entry.path, entry);
    if (relocated) this.relocated.add(entry.path);
    else this.relocated.delete(entry.path);
  }
}

/**
 * After dropping docs, a hardlink may point at a dropped file. The kept members of such a group
 * take the dropped file's body: the first (in layer order) becomes the file, the rest link to it.
 */
function rerootHardlinks(kept: LayerEntry[], byPath: Map<string, LayerEntry>): LayerEntry[] {
  const keptPaths = new Set(kept.map((e) => e.path));
  const newRoot = new Map<string, string>();
  return kept.map((entry) => {
    if (entry.type !== "hardlink" || keptPaths.has(entry.linkname!)) return entry;
    const root = byPath.get(entry.linkname!)!;
    const promoted = newRoot.get(root.path);
    if (promoted !== undefined) return { ...entry, linkname: promoted };
    newRoot.set(root.path, entry.path);
    return { ...root, path: entry.path };
  });
}

function isDroppedDoc(path: string): boolean {
  const tree = DROPPED_TREES.find((t) => path === t || path.startsWith(`${t}/`));
  if (tree === undefined) return false;
  // usr/share/doc/<package>/copyright is kept: licences must travel with the binaries.
  return !(tree === DOC_TREE && /^usr\/share\/doc\/[^/]+\/copyright$/.test(path));
}

function entryType(tarType: string, pkg: string, path: string): LayerEntry["type"] {
  switch (tarType) {
    case "file":
    case "contiguous-file":
      return "file";
    case "directory":
      return "dir";
    case "symlink":
      return "symlink";
    case "link":
      return "hardlink";
    case "character-device":
    case "block-device":
    case "fifo":
      throw unsafe(pkg, path, `${tarType} entries are refused (an image gets its devices from the runtime)`);
    default:
      throw new StrataError("DEB_INVALID", `${pkg}: ${path}: unsupported tar entry type ${tarType}`);
  }
}

/**
 * Paths a package may ship only as directories: every top-level one (usr, etc, tmp, var... which the
 * base layer makes and every other layer fills; `usr -> /` would redirect them all) and the usr/
 * directories the merged-/usr links lead to.
 */
function mustBeDirectory(path: string): boolean {
  return !path.includes("/") || (path.startsWith("usr/") && MERGED_USR_DIRS.includes(path.slice(4)));
}

/** bin/x → usr/bin/x (and the other merged directories); other paths unchanged. */
export function mergedUsrPath(path: string): string {
  const slash = path.indexOf("/");
  const top = slash < 0 ? path : path.slice(0, slash);
  return slash > 0 && MERGED_USR_DIRS.includes(top) ? `usr/${path}` : path;
}

/**
 * A relative symlink moved from bin/ to usr/bin/ must still reach what it reached before (seen
 * through the merged-/usr symlinks). It keeps its text when it does; otherwise it is recomputed.
 */
function relocatedSymlinkTarget(oldPath: string, newPath: string, target: string): string {
  if (oldPath === newPath || target.startsWith("/")) return target;
  const wanted = resolveLexically(parentParts(oldPath), target) ?? []; // climbing targets were refused
  const wantedPath = mergedUsrPath(wanted.join("/"));
  const reached = resolveLexically(parentParts(newPath), target);
  if (reached !== undefined && mergedUsrPath(reached.join("/")) === wantedPath) return target;
  const from = parentParts(newPath);
  const to = wantedPath === "" ? [] : wantedPath.split("/");
  let common = 0;
  while (common < from.length && common < to.length && from[common] === to[common]) common++;
  const up = from.slice(common).map(() => "..");
  return [...up, ...to.slice(common)].join("/") || ".";
}

/** Path components of `target` seen from directory `from`, or undefined when it climbs above "/". */
function resolveLexically(from: string[], target: string): string[] | undefined {
  const parts = [...from];
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  return parts;
}

function parentParts(path: string): string[] {
  return path.split("/").slice(0, -1);
}

/** Strips "./" and empty components; refuses absolute paths, "..", whiteouts and control characters. "" is the root. */
export function normalisePath(path: string, what: string): string {
  if (path.startsWith("/")) throw unsafe(what, path, "absolute path");
  // dpkg refuses them too; a newline would also forge lines of the md5sums scanners read.
  if (/[\0-\x1f\x7f]/.test(path)) throw unsafe(what, JSON.stringify(path), "control character in the path");
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") throw unsafe(what, path, "'..' component");
    // In a layer, .wh.NAME deletes NAME of the layers below and .wh..wh..opq empties a directory.
    if (part.startsWith(".wh."))
      throw unsafe(what, path, "an OCI whiteout name (it would hide lower layers' files)");
    parts.push(part);
  }
  return parts.join("/");
}

/** Proper ancestors of a path, nearest last: "a/b/c" → ["a", "a/b"]. */
export function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let i = path.indexOf("/"); i > 0; i = path.indexOf("/", i + 1)) out.push(path.slice(0, i));
  return out;
}

function unsafe(what: string, path: string, why: string): StrataError {
  return new StrataError("UNSAFE_PATH", `${what}: ${path}: ${why}`);
}

/**
 * Writes entries as one canonical layer into the ContentStore (see the top of this file). Refuses
 * duplicates, paths through symlinks or files, relative symlinks that climb above the root, and
 * hardlinks to anything but a file entry of the same list.
 */
export async function writeLayer(entries: LayerEntry[], opts: LayerWriteOptions): Promise<LayerBlob> {
  const ordered = canonicalOrder(entries, opts.what);
  const store = new ContentStore(opts.store);
  const tar = new PassThrough({ highWaterMark: 1 << 20 });
  const diff = new Digester();
  const compressor = createCompressor(opts.compression);
  const hashing = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      diff.update(chunk);
      done(null, chunk);
    },
  });

  const writing = (async () => {
    const writer = new TarWriter(tar);
    try {
      for (const e of ordered) {
        const size = e.type === "file" ? bodySize(e) : 0;
        const body = e.type === "file" ? Readable.from(bodyChunks(e)) : undefined;
        await writer.entry({ ...e, mtime: opts.epoch, size }, body);
      }
      await writer.end();
    } catch (err) {
      tar.destroy(err as Error);
      throw err;
    }
  })();
  const [, , stored] = await Promise.all([
    writing,
    pipeline(tar, hashing, compressor),
    store.put(compressor),
  ]);
  const digest = `sha256:${stored.hex}`;
  if (opts.cacheRoot !== undefined)
    await keepLayerDetails(
      digest,
      ordered.map((e) => asRead(e, opts.what)),
      opts.cacheRoot,
      opts.what,
    );
  return {
    digest,
    size: stored.size,
    diffId: `sha256:${diff.hex()}`,
    mediaType: layerMediaType(opts.compression),
    files: ordered.filter((e) => e.type !== "dir").map((e) => e.path),
    dirs: ordered.filter((e) => e.type === "dir").map((e) => e.path),
  };
}

const READ_TYPES = { file: "file", dir: "directory", symlink: "symlink", hardlink: "link" } as const;

/**
 * A written entry as the reader of its tar sees it (src/inventory/layer-entries.ts): tar-stream's
 * type names, a link's target, the size the header says, the body from memory or the spool. Its
 * path is the reader's already: canonicalOrder took only normalised paths.
 */
function asRead(entry: LayerEntry, what: string): ReadEntry {
  const size = entry.type === "file" ? bodySize(entry) : 0;
  return {
    path: entry.path,
    type: READ_TYPES[entry.type],
    size,
    ...(entry.linkname ? { linkname: entry.linkname } : {}),
    body: async (max) => {
      if (size > max)
        throw new StrataError("IO", `${what}: ${entry.path} is ${size} bytes, more than the ${max} read`);
      return entryBytes(entry);
    },
  };
}

function canonicalOrder(entries: LayerEntry[], what: string): LayerEntry[] {
  const byPath = new Map<string, LayerEntry>();
  for (const entry of entries) {
    if (normalisePath(entry.path, what) !== entry.path || entry.path === "") {
      throw unsafe(what, entry.path, "path is not normalised (no './', '//' or trailing '/')");
    }
    if (byPath.has(entry.path)) throw unsafe(what, entry.path, "appears twice");
    byPath.set(entry.path, entry);
  }
  for (const entry of entries) {
    for (const dir of ancestors(entry.path)) {
      const parent = byPath.get(dir);
      if (!parent) byPath.set(dir, { path: dir, type: "dir", mode: 0o755, uid: 0, gid: 0 });
      else if (parent.type === "symlink") throw unsafe(what, entry.path, `passes through the symlink ${dir}`);
      else if (parent.type !== "dir")
        throw unsafe(what, entry.path, `passes through the non-directory ${dir}`);
    }
    if (entry.type === "symlink" && !entry.linkname?.startsWith("/")) {
      if (!entry.linkname || resolveLexically(parentParts(entry.path), entry.linkname) === undefined) {
        throw unsafe(what, entry.path, `symlink target "${entry.linkname ?? ""}" climbs above the root`);
      }
    }
  }
  const sorted = [...byPath.values()].sort((a, b) =>
    Buffer.compare(Buffer.from(a.path), Buffer.from(b.path)),
  );
  return orderHardlinks(sorted, byPath, what);
}

/** Each hardlink group's first path (in layer order) becomes the file; the rest link to it. */
function orderHardlinks(sorted: LayerEntry[], byPath: Map<string, LayerEntry>, what: string): LayerEntry[] {
  const firstOfGroup = new Map<string, string>();
  return sorted.map((entry) => {
    if (entry.type !== "file" && entry.type !== "hardlink") return entry;
    let root = entry;
    if (entry.type === "hardlink") {
      const target = byPath.get(entry.linkname ?? "");
      if (target?.type !== "file") {
        throw unsafe(what, entry.path, `hardlink target ${entry.linkname ?? ""} is not a file of the layer`);
      }
      root = target;
    }
    const first = firstOfGroup.get(root.path);
    if (first === undefined) {
      firstOfGroup.set(root.path, entry.path);
      return { ...root, path: entry.path, type: "file", linkname: undefined };
    }
    return {
      ...root,
      path: entry.path,
      type: "hardlink",
      linkname: first,
      body: undefined,
      spooled: undefined,
    };
  });
}
