import { StrataError } from "../util/errors.js";
import type { PackageFacts } from "./layer.js";

/**
 * Detects paths shipped by more than one package. The later owner (the upper layer, or the later
 * member of a group) wins at run time; that is allowed only where one of the two packages declares
 * Replaces on the other (Policy 7.6), and is reported. Anything else is a FILE_CONFLICT.
 */
export class OverlapChecker {
  private readonly owners = new Map<string, PackageFacts[]>();
  readonly notes: string[] = [];

  constructor(private readonly arch: string) {}

  add(owner: PackageFacts[], files: Iterable<string>): void {
    for (const path of files) {
      const previous = this.owners.get(path);
      if (previous) this.judge(path, previous, owner);
      this.owners.set(path, owner);
    }
  }

  private judge(path: string, lower: PackageFacts[], upper: PackageFacts[]): void {
    const names = (facts: PackageFacts[]) => facts.map((f) => f.package).join(",");
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
