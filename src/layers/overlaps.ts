import type { PackageFacts } from "../effects/package-facts.js";
import type { LayerEntry } from "../oci/layer-entry.js";
import { StrataError } from "../util/errors.js";

/** What the checker needs of a layer: its non-directory paths and its directory paths. */
export interface LayerPaths {
  files: readonly string[];
  dirs: readonly string[];
}

/** The paths of in-memory entries (a package's before they are written, the base layer's). */
export function pathsOf(entries: readonly LayerEntry[]): LayerPaths {
  return {
    files: entries.filter((e) => e.type !== "dir").map((e) => e.path),
    dirs: entries.filter((e) => e.type === "dir").map((e) => e.path),
  };
}

interface Owner {
  facts: PackageFacts[];
  dir: boolean;
}

/**
 * Detects paths shipped by more than one layer. Between two non-directories, the later owner (the
 * upper layer, or the later member of a group) wins at run time; that is allowed only where one of
 * the two packages declares Replaces on the other (Policy 7.6), and is reported. A path that is a
 * directory in one layer and not in another is always refused: the upper entry would hide or
 * redirect everything the lower layers put under it (a package's `usr -> /`, a file over /etc/ssl).
 * The base layer, when given, is the lowest owner. Anything else is a FILE_CONFLICT.
 */
export class OverlapChecker {
  private readonly owners = new Map<string, Owner>();
  readonly notes: string[] = [];

  constructor(
    private readonly arch: string,
    base?: LayerPaths,
  ) {
    if (base) this.add([], base);
  }

  add(owner: PackageFacts[], layer: LayerPaths): void {
    for (const path of layer.dirs) {
      const previous = this.owners.get(path);
      if (previous && !previous.dir) throw this.typeConflict(path, previous.facts, owner, "a directory");
      if (!previous) this.owners.set(path, { facts: owner, dir: true });
    }
    for (const path of layer.files) {
      const previous = this.owners.get(path);
      if (previous?.dir) throw this.typeConflict(path, previous.facts, owner, "not a directory");
      if (previous) this.judge(path, previous.facts, owner);
      this.owners.set(path, { facts: owner, dir: false });
    }
  }

  private typeConflict(path: string, lower: PackageFacts[], upper: PackageFacts[], upperIs: string) {
    const lowerIs = upperIs === "a directory" ? "not a directory" : "a directory";
    return new StrataError(
      "FILE_CONFLICT",
      `${this.arch}: /${path} is ${lowerIs} in ${names(lower)} but ${upperIs} in ${names(upper)}`,
      { hint: `exclude ${names(upper)}: its layer would hide or redirect what is under /${path}` },
    );
  }

  private judge(path: string, lower: PackageFacts[], upper: PackageFacts[]): void {
    const replaces = (a: PackageFacts[], b: PackageFacts[]) =>
      a.some((x) => b.some((y) => x.replaces.includes(y.package)));
    const what = `${this.arch}: /${path} is shipped by ${names(lower)} and ${names(upper)}`;
    if (replaces(upper, lower)) {
      this.notes.push(`${what}; ${names(upper)} wins (it Replaces ${names(lower)})`);
    } else if (replaces(lower, upper)) {
      this.notes.push(`${what}; ${names(upper)} wins by layer order, although ${names(lower)} Replaces it`);
    } else {
      throw new StrataError("FILE_CONFLICT", `${what}, and neither Replaces the other`, {
        hint: "exclude one of the two packages",
      });
    }
  }
}

/** The packages of a layer, or "the base layer" for the owner with none. */
function names(facts: PackageFacts[]): string {
  return facts.length === 0 ? "the base layer" : facts.map((f) => f.package).join(",");
}
