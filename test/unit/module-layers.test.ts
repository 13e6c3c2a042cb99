import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { describe, test } from "node:test";

/**
 * The direction of imports between the lower modules (issue 18): each of util/, oci/, debian/,
 * spec/ and effects/ imports only the ones before it here, so effects/ consumes the facts layers/
 * gathers and never calls back up into layers/.
 */
const LOWER_MODULES = ["util", "oci", "debian", "spec", "effects"];
const SRC = new URL("../../src/", import.meta.url).pathname;

/** src-relative path → the src-relative paths it imports (value and type imports alike). */
async function importGraph(): Promise<Map<string, string[]>> {
  const files = (await readdir(SRC, { recursive: true })).filter((f) => f.endsWith(".ts"));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = await readFile(join(SRC, file), "utf8");
    const specifiers = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)["'](\.[^"']+)["']/g)];
    graph.set(
      file,
      specifiers.map((m) => relative(SRC, join(SRC, dirname(file), m[1])).replace(/\.js$/, ".ts")),
    );
  }
  return graph;
}

const moduleOf = (file: string) => file.split("/")[0];

/** The graph's strongly connected components of more than one file (Tarjan): its import cycles. */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (file: string) => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (!index.has(next)) visit(next);
      if (stack.includes(next)) low.set(file, Math.min(low.get(file)!, low.get(next)!));
    }
    if (low.get(file) !== index.get(file)) return;
    const component = stack.splice(stack.indexOf(file));
    if (component.length > 1) found.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}

describe("module layering", () => {
  test("util/, oci/, debian/, spec/ and effects/ import only the modules listed before them", async () => {
    const wrong: string[] = [];
    for (const [file, imports] of await importGraph()) {
      const rank = LOWER_MODULES.indexOf(moduleOf(file));
      if (rank < 0) continue;
      for (const target of imports) {
        const targetRank = LOWER_MODULES.indexOf(moduleOf(target));
        if (targetRank < 0 || targetRank > rank) wrong.push(`${file} -> ${target}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  test("no import cycle runs between debian/, layers/, effects/ and spec/ and another module", async () => {
    const involved = ["debian", "layers", "effects", "spec"];
    const crossing = cycles(await importGraph()).filter(
      (files) => files.some((f) => involved.includes(moduleOf(f))) && new Set(files.map(moduleOf)).size > 1,
    );
    assert.deepEqual(crossing, []);
  });
});
