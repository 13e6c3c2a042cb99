import { createHash } from "node:crypto";
import { CHANGELOG_PATH } from "../advisories/deb-changelog.js";
import { type DebControl, type DebTarEntry, openDeb } from "../debian/deb.js";
import { parseStanza, type Stanza, singleStanzaDefect } from "../debian/deb822.js";
import { MERGED_USR_DIRS, mergedUsrPath } from "../debian/merged-usr.js";
import {
  ancestors,
  type LayerEntry,
  normalisePath,
  parentParts,
  resolveLexically,
  unsafePath,
} from "../oci/layer-entry.js";
import { StrataError } from "../util/errors.js";
import { sha256File } from "../util/hash.js";
import type { BodySpool } from "../util/spool.js";
import { assertDigest } from "../util/verify.js";

/**
 * The .deb reader: a package's data.tar becomes layer entries (merged-/usr applied, unsafe entries
 * refused, docs dropped), plus the status.d records scanners read. A change here that alters any
 * output byte bumps LAYER_FORMAT_VERSION (src/layers/layer.ts).
 */

/** Which .deb to read, and what the lock says it is. */
export interface DebToRead {
  debPath: string;
  /** Expected sha256 (hex) of the .deb; a mismatch is HASH_MISMATCH. */
  debSha256: string;
  keepDocs: boolean;
  /** What the lock says the .deb is; its control stanza must say the same. */
  locked: { name: string; version: string; architecture: string };
}

/** A .deb read into a layer's entries, with what facts are gathered from. */
export interface DebEntries {
  /** The layer's entries: data.tar's (docs dropped unless kept), then the status.d records. */
  entries: LayerEntry[];
  /** Its control members: the stanza's text, maintainer scripts, templates... */
  control: DebControl;
  /** The control stanza, checked against the lock. */
  stanza: Stanza;
  /** Its changelog (docs included, so found even when docs are dropped). */
  changelog?: LayerEntry;
}

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

/** A package's layer entries (data, status.d records), the .deb checked against its sha256 first. */
export async function readDebEntries(input: DebToRead, spool: BodySpool): Promise<DebEntries> {
  assertDigest(input.debPath, await sha256File(input.debPath), { hex: input.debSha256 });
  const { deb, stanza, reader } = await readDeb(input, spool);
  const { name } = input.locked;
  const changelog = reader.firstFile(CHANGELOG_PATH);
  const entries = reader.entries(input.keepDocs);
  const md5sums = deb.control.md5sums ?? reader.md5sums(deb.control.conffiles);
  entries.push(
    statusFile(`${STATUS_DIR}/${name}`, statusStanza(deb.control.control)),
    statusFile(`${STATUS_DIR}/${name}.md5sums`, md5sums),
  );
  return { entries, control: deb.control, stanza, changelog };
}

/** The .deb read once, front to back: its control checked, then data.tar's entries collected. */
async function readDeb(input: DebToRead, spool: BodySpool) {
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
 * The control stanza, checked before it reaches status.d, where scanners take it as the truth:
 * exactly one well-formed stanza, no Status of its own, and the package the lock names.
 */
function checkedControl(input: DebToRead, control: string): Stanza {
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
      throw unsafePath(this.pkg, archivePath, "conflicts with the merged-/usr symlink");
    }

    if (type !== "dir" && mustBeDirectory(path)) {
      throw unsafePath(this.pkg, archivePath, `would replace the directory /${path} of the layers below`);
    }
    if (type !== "dir" && path.startsWith("var/lib/dpkg/")) {
      // Scanners take what is there as the truth about the image: only strata writes it (status.d).
      throw unsafePath(this.pkg, archivePath, "a package may not ship files in dpkg's database");
    }

    let entry: LayerEntry;
    if (type === "hardlink") {
      const target = mergedUsrPath(normalisePath(linkname, this.pkg));
      const linked = this.byPath.get(target);
      if (!linked || (linked.type !== "file" && linked.type !== "hardlink")) {
        throw unsafePath(this.pkg, archivePath, `hardlink target ${linkname} is not a file of the package`);
      }
      const root = linked.type === "hardlink" ? linked.linkname! : target;
      entry = { path, type, ...base, linkname: root };
      if (this.computeMd5sums) this.digests.push([archivePath, this.md5ByFile.get(root)!]);
    } else if (type === "symlink") {
      // Judged where the package put it too: bin/x -> ../../etc climbs, even though usr/bin/x would not.
      if (!linkname.startsWith("/") && !resolveLexically(parentParts(archivePath), linkname)) {
        throw unsafePath(this.pkg, archivePath, `symlink target "${linkname}" climbs above the root`);
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
        throw unsafePath(this.pkg, entry.path, "shipped twice (after the merged-/usr rewrite)");
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
      throw unsafePath(
        pkg,
        path,
        `${tarType} entries are refused (an image gets its devices from the runtime)`,
      );
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
