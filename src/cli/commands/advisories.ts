import type { Command } from "commander";
import { readFeed } from "../../advisories/feed.js";
import { storeIndexEvidence } from "../../advisories/index-evidence.js";
import { loadSpec } from "../../spec/spec.js";
import { StrataError } from "../../util/errors.js";
import { examples } from "../help.js";
import { type IndexFlags, withIndex, withIndexFlag } from "../index-flags.js";
import type { Output } from "../output.js";

interface UpdateFlags extends IndexFlags {
  from?: string[];
  spec?: string;
  release?: string[];
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

async function update(opts: UpdateFlags, out: () => Output): Promise<void> {
  if (!opts.from?.length && !opts.spec) {
    throw new StrataError("USAGE", "advisories update needs --from FEED or --spec SPEC", {
      hint: "e.g. strata advisories update --from debian-security-tracker.json",
    });
  }
  const keep = opts.release?.length ? (r: string) => opts.release!.includes(r) : undefined;
  const spec = opts.spec ? await loadSpec(opts.spec, { mirror: opts.mirror }) : undefined;
  await withIndex(opts, async (index) => {
    const results: unknown[] = [];
    for (const location of opts.from ?? []) {
      const feed = await readFeed(location, keep);
      await index.advisories.store({ location, kind: feed.kind, date: feed.date }, feed.advisories);
      results.push({ location, kind: feed.kind, date: feed.date, advisories: feed.advisories.length });
      out().line(
        `${location}: ${feed.advisories.length} advisories (${feed.kind}, ${feed.date}) stored in ${index.where}`,
      );
    }
    if (spec) {
      // The release the repositories hold, when their base-files cannot say: one --release names it.
      const release = opts.release?.length === 1 ? opts.release[0] : undefined;
      const r = await storeIndexEvidence(
        index.advisories,
        await index.heldPackages(),
        spec,
        { cacheRoot: opts.cacheDir },
        release,
      );
      results.push({ ...r, kind: "changelog" });
      out().line(
        `${spec.path}: ${r.newer} of ${r.packages} indexed packages have newer versions; their changelogs name ${r.advisories} fixes, stored in ${index.where}`,
      );
      if (r.trimmed.length > 0)
        out().line(`note: trimmed changelogs (evidence may be missing): ${r.trimmed.join(", ")}`);
    }
    if (opts.json) process.stdout.write(`${JSON.stringify({ stored: results })}\n`);
  });
}

export function registerAdvisories(program: Command, out: () => Output): void {
  const advisories = program
    .command("advisories")
    .description("vulnerability data in the index: Debian tracker and OSV feeds, and changelog evidence")
    .addHelpText("after", examples("strata advisories update --from debian-security-tracker.json.gz"));
  withIndexFlag(
    advisories
      .command("update")
      .description("store feeds (with their date) and the changelog evidence of every indexed package")
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
  )
    .addHelpText(
      "after",
      examples(
        "strata advisories update --from debian-security-tracker.json.gz",
        "strata advisories update --spec strata.yaml",
      ),
    )
    .action((opts: UpdateFlags) => update(opts, out));
  withIndexFlag(
    advisories
      .command("ls")
      .description("the feeds stored in the index, with their dates")
      .option("--json", "as JSON"),
  )
    .addHelpText("after", examples("strata advisories ls --json"))
    .action(async (opts: IndexFlags) => {
      const feeds = await withIndex(opts, (index) => index.advisories.feeds());
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ feeds })}\n`);
        return;
      }
      const lines = feeds.map(
        (f) =>
          `${f.location}  ${f.kind}  ${f.date}  ${f.advisories} advisories  stored ${new Date(f.storedAt).toISOString()}`,
      );
      process.stdout.write(`${lines.length > 0 ? lines.join("\n") : "no feeds stored"}\n`);
    });
  for (const cmd of advisories.commands) cmd.exitOverride();
}
