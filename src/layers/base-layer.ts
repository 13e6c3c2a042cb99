import { type Accounts, accountFiles } from "../debian/accounts.js";
import { MERGED_USR_DIRS } from "../debian/merged-usr.js";
import type { Compression } from "../oci/compress.js";
import { type LayerEntry, normalisePath } from "../oci/layer-entry.js";
import { StrataError } from "../util/errors.js";
import { type LayerBlob, writeLayer } from "./write-layer.js";

/**
 * The base layer (the skeleton a Debian root has before any package: merged-/usr symlinks, the
 * top-level directories, accounts) and the "files" layer (user files, CA bundle...). Both are
 * in-memory entries written by writeLayer, the same canonical writer as package layers.
 */

export interface EntriesLayerInput {
  /** Paths may start with "/" (taken from the image root); otherwise as LayerEntry. */
  entries: LayerEntry[];
  store: string;
  epoch: number;
  compression: Compression;
  /** The cache root where the layer's SBOM details are kept as it is written; none: not kept. */
  cacheRoot?: string;
}

export interface BaseLayerInput {
  /** Debian architecture, e.g. "amd64"; decides the lib* symlinks. */
  architecture: string;
  /**
   * Further merged directories to link, e.g. ["lib32"] when a multilib package ships /lib32 files
   * (package layers put them under usr/lib32, so /lib32 must lead there).
   */
  extraMergedDirs?: string[];
  accounts: Accounts;
  store: string;
  epoch: number;
  compression: Compression;
  /** The cache root where the layer's SBOM details are kept as it is written; none: not kept. */
  cacheRoot?: string;
}

/**
 * The lib* directories besides lib that merged-/usr links per architecture: where the ABI puts the
 * dynamic loader (amd64's /lib64/ld-linux-x86-64.so.2, ppc64el's /lib64/ld64.so.2, ...). This is
 * what a bookworm debootstrap/debuerreotype root has (amd64 here: bin, lib, lib64, sbin — checked on
 * this machine) and what trixie's base-files ships; older debootstrap also linked lib32/libx32 on
 * amd64, which only multilib packages use (their paths still move under usr/ in package layers).
 */
const EXTRA_LIB_DIRS: Record<string, string[]> = {
  amd64: ["lib64"],
  ppc64el: ["lib64"],
  mips64el: ["lib64"],
  loong64: ["lib64"],
  x32: ["libx32"],
};

/** The merged-/usr symlinks of an architecture's root: bin, sbin, lib and its lib* extras. */
export function mergedUsrLinks(architecture: string, extra: string[] = []): string[] {
  for (const dir of extra) {
    if (!MERGED_USR_DIRS.includes(dir))
      throw new StrataError("USAGE", `${dir} is not a merged-/usr directory`);
  }
  return [...new Set(["bin", "sbin", "lib", ...(EXTRA_LIB_DIRS[architecture] ?? []), ...extra])].sort();
}

/** Builds a layer from in-memory entries: the "files" layer, and the base layer below. */
export async function buildEntriesLayer(input: EntriesLayerInput): Promise<LayerBlob> {
  const entries = input.entries.map((e) => ({ ...e, path: rootedPath(e.path, "files") }));
  return writeLayer(entries, { ...input, what: "files" });
}

/**
 * The entries plus their parent directories as the layers below have them (`below` answers a
 * directory's entry), with their mode and owner: a parent the layer writer made up (0755 root)
 * would replace /tmp's 1777, /var/lock's 1777 or a home's owner.
 */
export function withParentsFrom(
  entries: LayerEntry[],
  below: (dir: string) => LayerEntry | undefined,
): LayerEntry[] {
  const paths = new Set(entries.map((e) => rootedPath(e.path, "files")));
  const parents = new Map<string, LayerEntry>();
  for (const path of paths) {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const known = below(dir);
      if (known?.type === "dir" && !paths.has(dir)) parents.set(dir, { ...known, path: dir });
    }
  }
  return [...entries, ...parents.values()];
}

export async function buildBaseLayer(input: BaseLayerInput): Promise<LayerBlob> {
  const entries = baseLayerEntries(input.architecture, input.accounts, input.extraMergedDirs);
  return buildEntriesLayer({ ...input, entries });
}

/** The base layer's entries, for inspection and tests. */
export function baseLayerEntries(
  architecture: string,
  accounts: Accounts,
  extraMergedDirs?: string[],
): LayerEntry[] {
  const dir = (path: string, mode = 0o755, uid = 0, gid = 0): LayerEntry => ({
    path,
    type: "dir",
    mode,
    uid,
    gid,
  });
  const file = (path: string, text: string, mode = 0o644, gid = 0): LayerEntry => ({
    path,
    type: "file",
    mode,
    uid: 0,
    gid,
    body: Buffer.from(text, "utf8"),
  });
  const byPath = new Map<string, LayerEntry>();
  const add = (e: LayerEntry) => byPath.set(e.path, e);

  for (const link of mergedUsrLinks(architecture, extraMergedDirs)) {
    add({ path: link, type: "symlink", mode: 0o777, uid: 0, gid: 0, linkname: `usr/${link}` });
    add(dir(`usr/${link}`));
  }
  // Modes as Debian's base-files and debootstrap leave them.
  for (const path of ["etc", "home", "usr", "var", "dev", "run"]) add(dir(path));
  for (const path of ["proc", "sys"]) add(dir(path, 0o555));
  add(dir("root", 0o700));
  add(dir("tmp", 0o1777));
  add(dir("var/tmp", 0o1777));

  const { passwd, group, shadow } = accountFiles(accounts);
  // shadow is 0640 root:shadow as Debian ships it (root:root when there is no shadow group); it only
  // says "no password" (*), but without it tools that read shadow fail instead of refusing logins.
  const shadowGid = accounts.groups.find((g) => g.name === "shadow")?.gid ?? 0;
  add(file("etc/passwd", passwd));
  add(file("etc/group", group));
  add(file("etc/shadow", shadow, 0o640, shadowGid));

  for (const user of accounts.users) {
    const home = homeDirectory(user.home);
    if (home === undefined) continue;
    const existing = byPath.get(home);
    // A home that is a skeleton directory (/, /tmp, /bin...) stays as the skeleton has it; /root and
    // new directories belong to their user.
    if (existing && home !== "root") continue;
    add(dir(home, user.uid === 0 ? 0o700 : 0o755, user.uid, user.gid));
  }
  return [...byPath.values()];
}

/** The home directory to create, as a layer path; undefined for "/" and /nonexistent homes. */
function homeDirectory(home: string): string | undefined {
  const path = rootedPath(home, "accounts");
  if (path === "" || path === "nonexistent" || path.startsWith("nonexistent/")) return undefined;
  return path;
}

/** "/etc/x" and "etc/x" both name etc/x in the image. */
function rootedPath(path: string, what: string): string {
  return normalisePath(path.replace(/^\/+/, ""), what);
}
