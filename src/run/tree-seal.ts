import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";

/**
 * The seal of an unpacked tree: the sha256 of its listing, where each entry gives its path, type,
 * mode, owner, size, inode, mtime and ctime (nanoseconds), and a symlink its target. Any change made
 * through the file system after sealing (a write, chmod, chown, rename, a file added or removed)
 * moves a ctime or the listing, and ctime cannot be set back, so a tampered layer no longer matches.
 * Checking costs one lstat per entry, far less than hashing every byte again. It does not stand
 * against someone who can rewrite the seal too (root on this machine, or raw writes to the disk).
 */
export function treeSeal(root: string): string {
  const hash = createHash("sha256");
  const walk = (dir: string, rel: string): void => {
    const names = readdirSync(dir).sort();
    for (const name of names) {
      const path = join(dir, name);
      const st = lstatSync(path, { bigint: true });
      const line = [
        `${rel}${name}`,
        st.mode.toString(8),
        st.uid,
        st.gid,
        st.size,
        st.ino,
        st.mtimeNs,
        st.ctimeNs,
        st.isSymbolicLink() ? readlinkSync(path) : "",
      ].join("\t");
      hash.update(`${line}\n`);
      if (st.isDirectory()) walk(path, `${rel}${name}/`);
    }
  };
  const top = lstatSync(root, { bigint: true });
  hash.update(`.\t${top.mode.toString(8)}\t${top.uid}\t${top.gid}\t${top.ctimeNs}\n`);
  walk(root, "");
  return `sha256:${hash.digest("hex")}`;
}
