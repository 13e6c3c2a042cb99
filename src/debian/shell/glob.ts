import { hasWildcard, matchesPattern, type PatternPiece } from "./pattern.js";
import type { ImageTree } from "./tree.js";

/** Bound on the paths one glob may produce; a pattern matching more is left unexpanded. */
const MAX_MATCHES = 10_000;

/**
 * Pathname expansion over the image's tree, one component at a time (so `/usr/share/x/*.rtupdate`
 * lists one directory, never the whole tree). Names starting with "." match only a pattern that
 * starts with "."; results sorted; empty when nothing matches.
 */
export function globTree(tree: ImageTree, pieces: PatternPiece[]): string[] {
  const components = splitComponents(pieces);
  const absolute = components.length > 0 && components[0].length === 0;
  let matches: string[] = [absolute ? "" : "."];
  for (const component of absolute ? components.slice(1) : components) {
    if (component.length === 0) continue;
    const next: string[] = [];
    const literal = !hasWildcard(component);
    const dotOk = component[0].text.startsWith(".");
    for (const dir of matches) {
      if (literal) {
        next.push(`${dir}/${component.map((p) => p.text).join("")}`);
        continue;
      }
      const at = tree.lookup(dir === "" ? "/" : dir);
      if (at?.type !== "dir") continue;
      for (const name of tree.list(tree.resolve(dir === "" ? "/" : dir))) {
        if ((dotOk || !name.startsWith(".")) && matchesPattern(name, component)) next.push(`${dir}/${name}`);
      }
    }
    if (next.length > MAX_MATCHES) return [];
    matches = next;
  }
  return matches
    .filter((p) => tree.lookup(p, false) !== undefined)
    .map((p) => (absolute ? p : p.replace(/^\.\//, "")))
    .sort();
}

/** Pattern pieces split at "/", each piece keeping whether it was quoted. */
function splitComponents(pieces: PatternPiece[]): PatternPiece[][] {
  const out: PatternPiece[][] = [[]];
  for (const piece of pieces) {
    piece.text.split("/").forEach((text, i) => {
      if (i > 0) out.push([]);
      if (text !== "") out.at(-1)!.push({ text, quoted: piece.quoted });
    });
  }
  return out;
}
