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

/** bin/x → usr/bin/x (and the other merged directories); other paths unchanged. */
export function mergedUsrPath(path: string): string {
  const slash = path.indexOf("/");
  const top = slash < 0 ? path : path.slice(0, slash);
  return slash > 0 && MERGED_USR_DIRS.includes(top) ? `usr/${path}` : path;
}
