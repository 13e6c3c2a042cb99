import { posix } from "node:path";
import { StrataError } from "../util/errors.js";
import type { VisitedEntry } from "./layer-entries.js";

/**
 * What one layer's entries yield to a scan of a few roots: the paths it hides or replaces below it,
 * and what `keep` makes of its entries under the roots. One piece of code for both sides of a layer:
 * the tar read back (src/inventory/overlay.ts) and the entries as they are written
 * (src/layers/write-layer.ts), so a scan made at layer-make time is the one a later read would make.
 */

export interface EntryScan<T> {
  /** Directories or files whose contents matter ("var/lib/dpkg", "etc/os-release"). */
  roots: string[];
  /** What to hold for an entry under a root, or undefined for nothing. */
  keep(entry: VisitedEntry): Promise<T | undefined> | T | undefined;
  /** The most entries held at once; more is an error (a crafted image). */
  maxKept: number;
}

/**
 * What one layer yields to a scan (its changes, and what `keep` made of its entries), as plain
 * data: a function of the layer's bytes and the scan, so it can be kept per layer digest.
 */
export interface LayerScan<T> {
  hidden: string[];
  opaque: string[];
  replaced: string[];
  kept: [string, T][];
}

/** What one layer does to the paths below it. */
export interface LayerChanges {
  /** Paths hidden with everything under them: whiteouts, and non-directories placed over them. */
  hidden: Set<string>;
  /** Directories made opaque: everything under them from lower layers is hidden. */
  opaque: Set<string>;
  /** Paths this layer puts anything at (a directory over a file replaces it too). */
  replaced: Set<string>;
}

/** Whether `path` can bear on a root: the root, an ancestor of it, or inside it. */
function bearsOn(path: string, roots: string[]): boolean {
  return roots.some(
    (root) => path === "" || path === root || root.startsWith(`${path}/`) || path.startsWith(`${root}/`),
  );
}

/** Notes what an entry hides or replaces; true when it is a path under a root to offer to `keep`. */
function noteEntry(entry: VisitedEntry, changes: LayerChanges, roots: string[]): boolean {
  const dir = posix.dirname(entry.path) === "." ? "" : posix.dirname(entry.path);
  const base = posix.basename(entry.path);
  if (base === ".wh..wh..opq") {
    if (bearsOn(dir, roots)) changes.opaque.add(dir);
    return false;
  }
  if (base.startsWith(".wh.")) {
    const hidden = dir === "" ? base.slice(4) : `${dir}/${base.slice(4)}`;
    if (bearsOn(hidden, roots)) changes.hidden.add(hidden);
    return false;
  }
  if (!bearsOn(entry.path, roots)) return false;
  changes.replaced.add(entry.path);
  if (entry.type !== "directory") changes.hidden.add(entry.path);
  return true;
}

/** Takes one layer's entries in tar order and makes its LayerScan. */
export class LayerScanner<T> {
  private readonly changes: LayerChanges = { hidden: new Set(), opaque: new Set(), replaced: new Set() };
  private readonly kept = new Map<string, T>();

  /** `what` names the layer in errors, e.g. "image: layer sha256:...". */
  constructor(
    private readonly scan: EntryScan<T>,
    private readonly what: string,
  ) {}

  async add(entry: VisitedEntry): Promise<void> {
    if (!noteEntry(entry, this.changes, this.scan.roots)) return;
    const value = await this.scan.keep(entry);
    if (value === undefined) return;
    this.kept.set(entry.path, value);
    if (this.kept.size > this.scan.maxKept)
      throw new StrataError("IO", `${this.what} holds more than ${this.scan.maxKept} records`);
  }

  result(): LayerScan<T> {
    return {
      hidden: [...this.changes.hidden],
      opaque: [...this.changes.opaque],
      replaced: [...this.changes.replaced],
      kept: [...this.kept],
    };
  }
}
