import { type LayerEntry, normalisePath } from "../oci/layer-entry.js";
import { StrataError } from "../util/errors.js";
import { type Accounts, accountFiles } from "./accounts.js";
import { MERGED_USR_DIRS } from "./merged-usr.js";

/**
 * The skeleton a Debian root has before any package: merged-/usr symlinks, the top-level
 * directories, the accounts' files and homes. The base layer is written of it
 * (src/layers/base-layer.ts); maintainer-script effects start from its account files.
 */

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

/** The base layer's entries: an architecture's root skeleton with these accounts. */
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
export function rootedPath(path: string, what: string): string {
  return normalisePath(path.replace(/^\/+/, ""), what);
}
