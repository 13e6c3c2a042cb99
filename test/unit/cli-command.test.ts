import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { describe, test } from "node:test";
import { Command } from "commander";
import { addCommand, type CommandDef } from "../../src/cli/command.js";
import { Output } from "../../src/cli/output.js";
import { lockForBuild } from "../../src/pipeline/build-lock.js";
import { reuseSources } from "../../src/pipeline/reuse-sources.js";
import { loadSpec } from "../../src/spec/spec.js";
import { isStrataError } from "../../src/util/errors.js";

/** A stream that keeps what is written to it. */
function kept(): { stream: NodeJS.WriteStream; text: () => string } {
  const stream = new PassThrough();
  let text = "";
  stream.on("data", (d) => {
    text += d;
  });
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => text };
}

describe("Output.json", () => {
  test("prints one line of JSON on stdout, even with --quiet, and nothing on stderr", () => {
    const [stderr, stdout] = [kept(), kept()];
    const out = new Output(true, stderr.stream, stdout.stream);
    out.json({ digest: "sha256:ab", layers: [1, 2] });
    out.line("not shown");
    assert.equal(stdout.text(), '{"digest":"sha256:ab","layers":[1,2]}\n');
    assert.equal(stderr.text(), "");
  });

  test("indents for a document a person reads (a Job manifest)", () => {
    const stdout = kept();
    new Output(false, kept().stream, stdout.stream).json({ kind: "Job" }, { indent: 2 });
    assert.equal(stdout.text(), '{\n  "kind": "Job"\n}\n');
  });
});

/** A program with `def` added, parsing `args`; what the handler was given. */
async function run(def: CommandDef<{ all?: boolean }, [string, string[]]>, args: string[]) {
  const program = new Command("strata").exitOverride();
  const out = new Output(true, kept().stream, kept().stream);
  addCommand(program, def, () => out);
  await program.parseAsync(["node", "strata", ...args]);
  return program;
}

describe("addCommand", () => {
  test("gives the handler the positional arguments, then the flags, then the Output", async () => {
    const calls: unknown[] = [];
    const def: CommandDef<{ all?: boolean }, [string, string[]]> = {
      name: "probe",
      summary: "probe an image",
      arguments: [
        { name: "<image>", description: "the image" },
        { name: "[args...]", description: "its arguments" },
      ],
      options: (cmd) => cmd.option("--all", "every one"),
      examples: ["strata probe oci:out -- -v"],
      handler: (params, flags, out) => {
        calls.push(params, flags, out instanceof Output);
      },
    };
    await run(def, ["probe", "oci:out", "--all", "--", "-v", "x"]);
    assert.deepEqual(calls, [["oci:out", ["-v", "x"]], { all: true }, true]);
  });

  test("--help lists the notes before the examples, and a group's subcommands under it", () => {
    const program = new Command("strata");
    const group: CommandDef = {
      name: "group",
      summary: "a group",
      examples: ["strata group leaf"],
      subcommands: [
        {
          name: "leaf",
          summary: "a leaf",
          notes: "\nA note.",
          examples: ["strata group leaf"],
          handler: () => {},
        },
      ],
    };
    const cmd = addCommand(program, group, () => new Output(true));
    const leaf = cmd.commands.find((c) => c.name() === "leaf");
    assert.ok(leaf, "the subcommand is registered under its group");
    let help = "";
    leaf.configureOutput({ writeOut: (s) => (help += s) }).exitOverride();
    assert.throws(() => leaf.parse(["--help"], { from: "user" }));
    assert.match(help, /a leaf\n[\s\S]*\nA note\.\n\nExamples:\n {2}strata group leaf\n$/);
  });
});

describe("the build's library steps", () => {
  test("lockForBuild refuses a spec without a lock unless told to resolve it, and notes nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "strata-build-lock-"));
    const specPath = join(dir, "app.yaml");
    await writeFile(specPath, "archs: [amd64]\npackages: [hello]\n");
    const spec = await loadSpec(specPath, {});
    const notes: string[] = [];
    await assert.rejects(lockForBuild(spec, { cacheRoot: dir, onNote: (m) => notes.push(m) }), (err) =>
      isStrataError(err, "LOCK_MISSING"),
    );
    assert.deepEqual(notes, []);
  });

  test("reuseSources notes an image that is not there yet and reuses nothing from it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "strata-reuse-"));
    process.env.STRATA_CACHE_DIR = dir;
    const notes: string[] = [];
    const location = { transport: "oci" as const, path: join(dir, "none") };
    const reused = await reuseSources([location], { onNote: (m) => notes.push(m) });
    assert.deepEqual(reused, []);
    assert.deepEqual(notes, [`nothing at oci:${location.path} yet: no layers to reuse from it`]);
  });
});
