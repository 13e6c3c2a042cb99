/**
 * `npm run bench:parity [-- NAME...]`: whole-tree parity with dpkg over the wide corpus
 * (test/helpers/parity-corpus.ts), or the sets named. For each set: strata lock + build, and
 * mmdebstrap --variant=essential with the locked versions (cached between runs per lock), then every
 * path beyond the essential baseline compared (test/helpers/tree-parity.ts). A table a set, the
 * totals, and the differences by kind go to stdout and to .bench/parity.md.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { measureParity, type ParityResult } from "../test/helpers/effects-parity.js";
import { PARITY_CORPUS } from "../test/helpers/parity-corpus.js";
import { NOT_IN_IMAGES, percent } from "../test/helpers/tree-parity.js";
import { table } from "./format.js";
import { log, ROOT, strata } from "./proc.js";

/** Differences shown a set before "and N more". */
const SHOWN = 8;

async function main(): Promise<number> {
  const names = process.argv.slice(2);
  const sets = names.length === 0 ? PARITY_CORPUS : PARITY_CORPUS.filter((s) => names.includes(s.name));
  if (sets.length === 0) {
    process.stderr.write(`no such set; the corpus: ${PARITY_CORPUS.map((s) => s.name).join(", ")}\n`);
    return 2;
  }
  const work = await mkdtemp(join(tmpdir(), "strata-parity-"));
  const cache = join(tmpdir(), "strata-parity-cache");
  const results: ParityResult[] = [];
  const failed: string[] = [];
  try {
    for (const [i, set] of sets.entries()) {
      log(`parity ${i + 1}/${sets.length}: ${set.name}`);
      try {
        const strataCli = async (args: string[]) => {
          const r = await strata(["--cache-dir", cache, ...args], { allowFail: true });
          if (r.code !== 0) throw new Error(`strata ${args[0]}: ${r.stderr.trim().split("\n").at(-2) ?? ""}`);
        };
        results.push(await measureParity(set, { work, strata: strataCli }));
      } catch (err) {
        failed.push(`${set.name}: ${(err instanceof Error ? err.message : String(err)).split("\n")[0]}`);
      }
      // Written after every set: a long run stopped half-way still leaves what it measured.
      await writeReports(results, failed);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  process.stdout.write(`${parityReport(results, failed)}\n`);
  return 0;
}

async function writeReports(results: ParityResult[], failed: string[]): Promise<void> {
  await mkdir(join(ROOT, ".bench"), { recursive: true });
  await writeFile(join(ROOT, ".bench", "parity.md"), `${parityReport(results, failed)}\n`);
  const details = results.flatMap((r) => [
    `## ${r.name}`,
    "",
    ...r.wide.differ.map((d) => `- ${d.script ? "(script) " : ""}/${d.path}: ${d.why}`),
    "",
  ]);
  await writeFile(join(ROOT, ".bench", "parity-details.md"), `${details.join("\n")}\n`);
}

function parityReport(results: ParityResult[], failed: string[]): string {
  const sum = (f: (r: ParityResult) => number) => results.reduce((n, r) => n + f(r), 0);
  const rows = results.map((r) => [
    r.name,
    String(r.wide.paths),
    percent(r.wide.matching, r.wide.paths),
    String(r.wide.scriptPaths),
    percent(r.wide.scriptMatching, r.wide.scriptPaths),
    differences(r),
  ]);
  const total = [
    "**all sets**",
    String(sum((r) => r.wide.paths)),
    percent(
      sum((r) => r.wide.matching),
      sum((r) => r.wide.paths),
    ),
    String(sum((r) => r.wide.scriptPaths)),
    percent(
      sum((r) => r.wide.scriptMatching),
      sum((r) => r.wide.scriptPaths),
    ),
    `${sum((r) => r.wide.differ.length)} paths differ; sets below 98 %: ${results.filter((r) => r.wide.matching < 0.98 * r.wide.paths).length} of ${results.length}`,
  ];
  return [
    "### Whole-tree parity with dpkg (mmdebstrap --variant=essential), the wide corpus",
    "",
    table(
      ["set (bookworm amd64)", "paths", "match", "made by scripts", "match", "differences (first ones)"],
      [...rows, total],
    ),
    "",
    "Left out of the comparison, as nothing an image should hold:",
    "",
    ...NOT_IN_IMAGES.map((e) => `- \`${e.match.source}\`: ${e.reason}`),
    "- what packages mmdebstrap installed beyond the lock ship: the machinery strata excludes (adduser, debconf, ucf...) and what only it needs; per set:",
    "",
    ...results.map((r) => `  - ${r.name}: ${r.onlyInReference.join(", ") || "none"}`),
    ...(failed.length > 0 ? ["", "_Not measured:_", "", ...failed.map((f) => `- ${f}`)] : []),
  ].join("\n");
}

function differences(r: ParityResult): string {
  const shown = r.wide.differ.slice(0, SHOWN).map((d) => `\`/${d.path}\` ${d.why}`);
  const more = r.wide.differ.length - shown.length;
  return [...shown, ...(more > 0 ? [`and ${more} more`] : [])].join("; ") || "none";
}

process.exitCode = await main();
