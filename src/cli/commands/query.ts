import { DEFAULT_LIMIT, MAX_LIMIT, type Page, type PageRequest } from "../../fleet/page.js";
import type { QueryAnswer } from "../../fleet/query.js";
import { parseQuery } from "../../fleet/query.js";
import { refText } from "../../fleet/ref-text.js";
import type { CommandDef } from "../command.js";
import { type IndexFlags, withIndex, withIndexFlag } from "../index-flags.js";
import type { Output } from "../output.js";
import { countFlag } from "./common.js";

interface QueryFlags extends IndexFlags {
  limit: number;
  offset: number;
  all?: boolean;
}

function answerLines(a: QueryAnswer): string[] {
  // Queries answer for superseded images too (what runs one may still be found by it), marked.
  const names = a.image.superseded ? "(superseded: no tag names it)" : a.image.refs.map(refText).join(", ");
  const via = a.match ? `  (its ${a.match})` : "";
  return [
    `${names}  ${a.image.platform}  ${a.image.digest}${via}`,
    ...a.packages.map((p) => {
      const arch = p.architecture ? `:${p.architecture}` : "";
      const source =
        p.source && (p.source !== p.name || p.sourceVersion !== p.version)
          ? ` (source ${p.source} ${p.sourceVersion})`
          : "";
      return `  ${p.name}${arch} ${p.version}${source}`;
    }),
  ];
}

/** "showing 101–200 of 1,667 images; --limit/--offset for more", when the page is not all of them. */
function pageLine(page: Page<QueryAnswer>): string[] {
  if (page.offset === 0 && page.items.length === page.total) return [];
  const count = (n: number) => n.toLocaleString("en");
  const range =
    page.items.length === 0
      ? "none"
      : page.offset === 0
        ? count(page.items.length)
        : `${count(page.offset + 1)}-${count(page.offset + page.items.length)}`;
  return [`showing ${range} of ${count(page.total)} images; --limit/--offset for more, --all for every one`];
}

async function query([text]: [string], flags: QueryFlags, out: Output): Promise<void> {
  const query = parseQuery(text);
  const page: PageRequest = { offset: flags.offset, limit: flags.all ? "all" : flags.limit };
  const answer = await withIndex(flags, (index) => index.query(query, page));
  if (flags.json) {
    const { total, limit, offset, items } = answer;
    out.json({ total, limit, offset, answers: items });
    return;
  }
  if (answer.total === 0) {
    process.stdout.write(`no indexed image matches ${text}\n`);
    return;
  }
  process.stdout.write(`${[...answer.items.flatMap(answerLines), ...pageLine(answer)].join("\n")}\n`);
}

export const command: CommandDef<QueryFlags, [string]> = {
  name: "query",
  summary: "which indexed images hold a package, a source's packages, or a digest",
  arguments: [
    { name: "<query>", description: "NAME [OP VERSION], source:NAME [OP VERSION], or digest:sha256:HEX" },
  ],
  options: (cmd) =>
    withIndexFlag(
      cmd
        .option(
          "--limit <n>",
          "at most this many images (1 to 10000)",
          countFlag(1, MAX_LIMIT),
          DEFAULT_LIMIT,
        )
        .option(
          "--offset <n>",
          "skip this many images first (they come ordered by digest)",
          countFlag(0, 1e9),
          0,
        )
        .option("--all", "every matching image, however many (overrides --limit)")
        .option("--json", "print {total, limit, offset, answers} as JSON on stdout"),
    ),
  notes: [
    "",
    "NAME is a binary or a source package; OP is dpkg's << <= = >= >> (< and > mean << and >>,",
    "strictly less and greater). Versions compare in dpkg's order: 3.0.11-1~deb12u2 << 3.0.11-1.",
    "A digest matches an image's manifest, its config (the image ID runtimes report) or a layer",
    "(its digest or diff_id). Quote the query: < and > are the shell's.",
  ].join("\n"),
  examples: [
    "strata query 'openssl < 3.0.15-1~deb12u1'",
    "strata query source:glibc --json",
    "strata query libc6 --limit 50 --offset 100",
    "strata query digest:sha256:4f2a...",
  ],
  handler: query,
};
