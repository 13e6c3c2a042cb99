/**
 * The image's file tree as maintainer scripts see it: an in-memory map of paths (never the host's
 * file system). Paths are relative to the image root, without a leading "/"; the root is "".
 * Symlinks are followed within the tree only, with a bound on hops, and ".." never climbs above
 * the root, so a hostile path or link cannot name anything outside the image.
 */
export type NodeType = "file" | "dir" | "symlink";

export interface TreeNode {
  type: NodeType;
  mode: number;
  uid: number;
  gid: number;
  /** Symlink target as stored. */
  link?: string;
  /**
   * A file's contents. Made by a script: undefined is empty. Shipped by a package: undefined means
   * not recorded (only the files its scripts read are).
   */
  body?: Buffer;
  /** Who made it: the package that ships it, or undefined for the base layer. */
  owner?: string;
  /**
   * A file a script wrote from output strata could not know (an unfollowed command's): it exists,
   * so the script goes on as it would, but its contents are unknown and it never reaches the image.
   */
  unknown?: boolean;
}

const MAX_HOPS = 40;
const DPKG_DIR = "var/lib/dpkg";
/**
 * The bytes scripts may write into files in all (what they make is copies of small configuration
 * files): a loop of `cp` over a large file ends here, not in a gigabytes-large files layer.
 */
export const MAX_SCRIPT_WRITE_BYTES = 64 << 20;

export class TreeError extends Error {}

export class ImageTree {
  private readonly nodes = new Map<string, TreeNode>();
  private readonly children = new Map<string, Set<string>>();
  /** Paths the layers below ship (a script cannot remove them: their layer stays as built). */
  private readonly fromLayers = new Set<string>();
  /** Paths a script made or changed, in the order it first did so. */
  readonly changed = new Set<string>();
  /** Files whose contents a script read (so a layer build knows which bodies to record). */
  readonly read = new Set<string>();
  /** The bytes scripts wrote so far, overwritten and removed files included. */
  private written = 0;
  /**
   * Empty directories a layer ships that a script removed to put something else there (base-files
   * turns /var/run into a link to /run), with the node as shipped: see removeShippedDirectory.
   */
  readonly retyped = new Map<string, TreeNode>();

  constructor() {
    this.nodes.set("", { type: "dir", mode: 0o755, uid: 0, gid: 0 });
  }

  /** Adds a path as a layer ships it (no change recorded); missing parents become directories. */
  ship(path: string, node: TreeNode): void {
    this.ensureParents(path);
    this.place(path, node);
    this.fromLayers.add(path);
  }

  /** The node at a canonical path (no symlink following). */
  at(path: string): TreeNode | undefined {
    return this.nodes.get(path);
  }

  /**
   * Where `path` leads (relative to `cwd`, "/" when absolute): the canonical path with every
   * symlink in its directories followed, and the last one too when `follow`. Throws a TreeError for
   * a loop or a path through a non-directory.
   */
  resolve(path: string, follow = true, cwd = ""): string {
    let parts = split(path.startsWith("/") ? path : `${cwd}/${path}`);
    let done: string[] = [];
    let hops = 0;
    while (parts.length > 0) {
      const part = parts.shift()!;
      if (part === "..") {
        done.pop();
        continue;
      }
      const candidate = [...done, part].join("/");
      const node = this.nodes.get(candidate);
      const last = parts.length === 0;
      if (node?.type === "symlink" && (follow || !last)) {
        if (++hops > MAX_HOPS) throw new TreeError(`too many symlinks in ${path}`);
        const target = node.link ?? "";
        parts = [...split(target), ...parts];
        if (target.startsWith("/")) done = [];
        continue;
      }
      if (node && node.type !== "dir" && !last) throw new TreeError(`${candidate} is not a directory`);
      done.push(part);
    }
    return done.join("/");
  }

  /** The node `path` leads to, following symlinks unless told not to; undefined when missing. */
  lookup(path: string, follow = true): TreeNode | undefined {
    try {
      return this.nodes.get(this.resolve(path, follow));
    } catch {
      return undefined;
    }
  }

  /** A file's contents, read through symlinks: undefined when missing or not recorded. */
  contents(path: string, cwd = ""): Buffer | undefined {
    let at: string;
    try {
      at = this.resolve(path, true, cwd);
    } catch {
      return undefined;
    }
    const node = this.nodes.get(at);
    if (node?.type !== "file" || node.unknown) return undefined;
    this.read.add(at);
    if (node.body === undefined && !this.fromLayers.has(at)) return Buffer.alloc(0);
    return node.body;
  }

  /** Whether a layer below ships the path (a script may change its mode or owner, nothing else). */
  shipped(path: string): boolean {
    return this.fromLayers.has(path);
  }

  /** Makes or replaces a path by a script's doing; its parent must be a directory. */
  write(path: string, node: TreeNode): void {
    if (path === "") throw new TreeError("the image's root cannot be replaced");
    // The package records scanners read (status.d, status) are strata's to write, from the lock:
    // a script that wrote them could make an image claim packages it does not hold.
    if (path === DPKG_DIR || path.startsWith(`${DPKG_DIR}/`))
      throw new TreeError(`/${path}: only strata writes dpkg's records`);
    const parent = this.nodes.get(parentOf(path));
    if (parent?.type !== "dir") throw new TreeError(`/${parentOf(path)} is not a directory`);
    const existing = this.nodes.get(path);
    if (existing?.type === "dir" && node.type !== "dir") throw new TreeError(`/${path} is a directory`);
    const bytes = node.body?.length ?? 0;
    if (this.written + bytes > MAX_SCRIPT_WRITE_BYTES)
      throw new TreeError(`scripts would write more than ${MAX_SCRIPT_WRITE_BYTES} bytes into files`);
    this.written += bytes;
    this.place(path, node);
    this.changed.add(path);
  }

  /** Makes a path's missing parent directories (0755 root), as mkdir -p would. */
  writeParents(path: string): void {
    const parts = split(path);
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (!this.nodes.has(dir)) this.write(dir, { type: "dir", mode: 0o755, uid: 0, gid: 0 });
    }
  }

  /** Marks an existing node changed after its mode or owner was set. */
  touch(path: string): void {
    if (this.nodes.has(path)) this.changed.add(path);
  }

  /**
   * Removes what a script made at `path`, and below it. The root, and a path that is or holds
   * anything a layer ships, is never removed (a TreeError): what a script can take away is bounded
   * by construction to what scripts made, whatever value a path was computed from.
   */
  remove(path: string): void {
    if (path === "") throw new TreeError("the image's root is never removed");
    if (this.holdsShipped(path)) throw new TreeError(`/${path} holds what a package ships`);
    this.removeMade(path);
  }

  /**
   * `rmdir` of an empty directory a layer ships, below the top level and outside dpkg's records:
   * allowed so that a script can put a link in its place (base-files' migrate_directory). The files
   * layer can only replace a lower directory, not remove it, so whatever the script puts there is
   * kept, and a directory still missing at the end is restored (restoreRetyped).
   */
  removeShippedDirectory(path: string): boolean {
    const node = this.nodes.get(path);
    const movable =
      node?.type === "dir" &&
      this.fromLayers.has(path) &&
      path.includes("/") &&
      !path.startsWith(`${DPKG_DIR}/`) &&
      (this.children.get(path)?.size ?? 0) === 0;
    if (!movable) return false;
    this.retyped.set(path, node);
    this.fromLayers.delete(path);
    this.removeMade(path);
    return true;
  }

  /** Puts back the shipped directories scripts removed and put nothing in place of; their paths. */
  restoreRetyped(): string[] {
    const restored: string[] = [];
    for (const [path, node] of this.retyped) {
      if (this.nodes.has(path)) continue;
      this.ship(path, node);
      restored.push(path);
    }
    return restored;
  }

  private holdsShipped(path: string): boolean {
    if (this.fromLayers.has(path)) return true;
    for (const child of this.children.get(path) ?? []) if (this.holdsShipped(`${path}/${child}`)) return true;
    return false;
  }

  private removeMade(path: string): void {
    for (const child of this.children.get(path) ?? []) this.removeMade(`${path}/${child}`);
    this.nodes.delete(path);
    this.children.delete(path);
    this.children.get(parentOf(path))?.delete(baseName(path));
    this.changed.delete(path);
  }

  /** Every path and its node, in no particular order. */
  entries(): IterableIterator<[string, TreeNode]> {
    return this.nodes.entries();
  }

  /** Names in a directory, sorted. */
  list(path: string): string[] {
    return [...(this.children.get(path) ?? [])].sort();
  }

  private ensureParents(path: string): void {
    const parts = split(path);
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (!this.nodes.has(dir)) this.place(dir, { type: "dir", mode: 0o755, uid: 0, gid: 0 });
      this.fromLayers.add(dir);
    }
  }

  private place(path: string, node: TreeNode): void {
    this.nodes.set(path, node);
    const parent = parentOf(path);
    let names = this.children.get(parent);
    if (!names) this.children.set(parent, (names = new Set()));
    names.add(baseName(path));
  }
}

function split(path: string): string[] {
  return path.split("/").filter((p) => p !== "" && p !== ".");
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
