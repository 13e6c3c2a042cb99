import { cp, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { runStrata } from "./cli.js";

export const EXAMPLES = fileURLToPath(new URL("../../examples", import.meta.url));

/** One cache for every test that builds real images, so the .debs are fetched once per run. */
export const SHARED_CACHE = join(tmpdir(), "strata-test-cache");

/** Copies an example into a temp dir (optionally rewriting its spec), so its lock lands there. */
export async function exampleCopy(name: string, edit?: (spec: string) => string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `strata-ex-${name}-`));
  await cp(join(EXAMPLES, name), dir, { recursive: true, filter: (src) => !src.endsWith("strata.lock") });
  if (edit) {
    const spec = join(dir, "strata.yaml");
    await writeFile(spec, edit(await readFile(spec, "utf8")));
  }
  return dir;
}

/** Builds an example copy with the real CLI; throws with strata's stderr when it fails. */
export async function buildExample(dir: string, args: string[] = [], cache = SHARED_CACHE) {
  const out = join(dir, "out");
  const r = await runStrata(
    ["--cache-dir", cache, "build", "--lock-update", "-o", out, "--force", "--json", ...args],
    {
      cwd: dir,
    },
  );
  if (r.code !== 0) throw new Error(`strata build failed (${r.code}):\n${r.stderr}`);
  return { out, summary: JSON.parse(r.stdout.trim().split("\n").at(-1)!), stderr: r.stderr };
}
