import { updateAdvisories } from "../../fleet/update-advisories.js";
import { StrataError } from "../../util/errors.js";
import type { CommandDef } from "../command.js";
import { type IndexFlags, withIndex, withIndexFlag } from "../index-flags.js";
import type { Output } from "../output.js";
import { collect } from "./common.js";

interface UpdateFlags extends IndexFlags {
  from?: string[];
  spec?: string;
  release?: string[];
}

async function update(opts: UpdateFlags, out: Output): Promise<void> {
  if (!opts.from?.length && !opts.spec) {
    throw new StrataError("USAGE", "advisories update needs --from FEED or --spec SPEC", {
      hint: "e.g. strata advisories update --from debian-security-tracker.json",
    });
  }
  const results = await updateAdvisories(opts, {
    onFeed: (f, where) =>
      out.line(`${f.location}: ${f.advisories} advisories (${f.kind}, ${f.date}) stored in ${where}`),
    onEvidence: (r, spec, where) => {
      out.line(
        `${spec.path}: ${r.newer} of ${r.packages} indexed packages have newer versions; their changelogs name ${r.advisories} fixes, stored in ${where}`,
      );
      if (r.trimmed.length > 0)
        out.line(`note: trimmed changelogs (evidence may be missing): ${r.trimmed.join(", ")}`);
    },
  });
  if (opts.json) out.json({ stored: results });
}

async function listFeeds(_: [], opts: IndexFlags, out: Output): Promise<void> {
  const feeds = await withIndex(opts, (index) => index.advisories.feeds());
  if (opts.json) {
    out.json({ feeds });
    return;
  }
  const lines = feeds.map(
    (f) =>
      `${f.location}  ${f.kind}  ${f.date}  ${f.advisories} advisories  stored ${new Date(f.storedAt).toISOString()}`,
  );
  process.stdout.write(`${lines.length > 0 ? lines.join("\n") : "no feeds stored"}\n`);
}

const updateCommand: CommandDef<UpdateFlags, []> = {
  name: "update",
  summary: "store feeds (with their date) and the changelog evidence of every indexed package",
  options: (cmd) =>
    withIndexFlag(
      cmd
        .option(
          "--from <feed>",
          "a Debian security tracker JSON or OSV file or URL (gzip too); repeatable",
          collect,
        )
        .option("--spec <file>", "changelog evidence from this spec's repositories")
        .option(
          "--release <codename>",
          "only this release's advisories; with --spec, the release the repositories hold",
          collect,
        )
        .option("--json", "print what was stored as JSON on stdout"),
    ),
  examples: [
    "strata advisories update --from debian-security-tracker.json.gz",
    "strata advisories update --spec strata.yaml",
  ],
  handler: (_, opts, out) => update(opts, out),
};

const ls: CommandDef<IndexFlags, []> = {
  name: "ls",
  summary: "the feeds stored in the index, with their dates",
  options: (cmd) => withIndexFlag(cmd.option("--json", "as JSON")),
  examples: ["strata advisories ls --json"],
  handler: listFeeds,
};

export const command: CommandDef = {
  name: "advisories",
  summary: "vulnerability data in the index: Debian tracker and OSV feeds, and changelog evidence",
  examples: ["strata advisories update --from debian-security-tracker.json.gz"],
  subcommands: [updateCommand, ls],
};
