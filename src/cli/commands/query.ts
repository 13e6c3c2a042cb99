import type { Command } from "commander";
import type { QueryAnswer } from "../../fleet/query.js";
import { parseQuery } from "../../fleet/query.js";
import { refText } from "../../fleet/ref-text.js";
import { examples } from "../help.js";
import { type IndexFlags, withIndex, withIndexFlag } from "./index.js";

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

export function registerQuery(program: Command): void {
  withIndexFlag(
    program
      .command("query")
      .description("which indexed images hold a package, a source's packages, or a digest")
      .argument("<query>", "NAME [OP VERSION], source:NAME [OP VERSION], or digest:sha256:HEX")
      .option("--json", "print the answers as JSON on stdout")
      .addHelpText(
        "after",
        [
          "",
          "NAME is a binary or a source package; OP is dpkg's << <= = >= >> (< and > mean << and >>,",
          "strictly less and greater). Versions compare in dpkg's order: 3.0.11-1~deb12u2 << 3.0.11-1.",
          "A digest matches an image's manifest, its config (the image ID runtimes report) or a layer",
          "(its digest or diff_id). Quote the query: < and > are the shell's.",
        ].join("\n"),
      )
      .addHelpText(
        "after",
        examples(
          "strata query 'openssl < 3.0.15-1~deb12u1'",
          "strata query source:glibc --json",
          "strata query digest:sha256:4f2a...",
        ),
      ),
  ).action(async (text: string, flags: IndexFlags) => {
    const query = parseQuery(text);
    const answers = await withIndex(flags, (index) => index.query(query));
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(answers)}\n`);
      return;
    }
    if (answers.length === 0) {
      process.stdout.write(`no indexed image matches ${text}\n`);
      return;
    }
    process.stdout.write(`${answers.flatMap(answerLines).join("\n")}\n`);
  });
}
