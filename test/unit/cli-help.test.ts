import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { describe, test } from "node:test";
import type { Command, Option } from "commander";
import { buildProgram } from "../../src/cli/main.js";
import { runStrata } from "../helpers/cli.js";

/**
 * Every command registered, as `strata ... --help` shows it (the built CLI): one line per flag, an
 * Examples section that runs the command, and the same flags in the same order as the README's
 * Commands block. A command added later is held to this without a change here.
 */

const README = new URL("../../README.md", import.meta.url);
/** What the README writes as "[registry options]": the four flags withRegistryFlags adds, in order. */
const REGISTRY_OPTIONS = ["--creds", "--insecure", "--no-tls-verify", "--ca-file"];

function commands(cmd: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  return cmd.commands.flatMap((c) => {
    const p = [...path, c.name()];
    return [{ path: p, cmd: c }, ...commands(c, p)];
  });
}

const flagsOf = (cmd: Command) =>
  cmd.options.filter((o: Option) => o.long !== "--help" && o.long !== "--version");

/** The README's Commands block: each `strata ...` entry with its lines. */
async function readmeEntries(paths: string[][]): Promise<Map<string, string>> {
  const text = await readFile(README, "utf8");
  const block = /## Commands\n\n```\n([\s\S]*?)```/.exec(text)?.[1];
  assert.ok(block, "README has a Commands block");
  const names = paths.map((p) => p.join(" ")).sort((a, b) => b.length - a.length);
  const entries = new Map<string, string>();
  let current: string | undefined;
  for (const line of block.split("\n")) {
    if (line.startsWith("strata ")) {
      current = names.find((n) => line === `strata ${n}` || line.startsWith(`strata ${n} `));
      assert.ok(current, `the README names a command strata does not have: ${line}`);
      assert.ok(!entries.has(current), `strata ${current} twice in the README`);
      entries.set(current, line);
    } else if (current && line.startsWith(" ")) entries.set(current, `${entries.get(current)}\n${line}`);
    else current = undefined;
    if (line.startsWith("global:")) entries.set("", line);
  }
  return entries;
}

/** The flags an entry lists, in order, "[registry options]" written out. */
function readmeFlags(entry: string): string[] {
  const words = entry
    .replaceAll("[registry options]", REGISTRY_OPTIONS.join(" "))
    .replace(/(?<![\w-])-[a-zA-Z]\/(--[\w-]+)/g, "$1"); // -q/--quiet is one flag
  return [...words.matchAll(/(?<![\w-])(--?[a-zA-Z][\w-]*)/g)].map((m) => m[1]);
}

const { program } = await buildProgram();

describe("--help of every command", { timeout: 120_000 }, () => {
  const all = [{ path: [] as string[], cmd: program }, ...commands(program)];

  test("every flag has a one-line description, and --help shows each on one line with an example", async () => {
    for (const { path, cmd } of all) {
      const name = ["strata", ...path].join(" ");
      for (const o of flagsOf(cmd)) {
        assert.ok(o.description.length > 0 && !o.description.includes("\n"), `${name} ${o.flags}`);
      }
      const help = await runStrata([...path, "--help"]);
      assert.equal(help.code, 0, help.stderr);
      const lines = help.stdout.split("\n");
      let inOptions = false;
      for (const line of lines) {
        if (/^(Global )?Options:$/.test(line)) inOptions = true;
        else if (line === "" || /^\S/.test(line)) inOptions = false;
        else if (inOptions)
          assert.match(line, /^ {2}-/, `${name} --help wraps a flag's description: ${line}`);
      }
      const examples = help.stdout.split(/^Examples:$/m)[1];
      assert.ok(examples, `${name} --help has no Examples section`);
      assert.match(examples, new RegExp(`^ {2}.*${name}( |$)`, "m"), `${name} --help has no example of it`);
    }
  });

  test("the README's Commands block lists every command with the same flags in the same order", async () => {
    const leaves = all.filter(({ cmd }) => cmd.commands.length === 0);
    const entries = await readmeEntries(leaves.map((l) => l.path));
    for (const { path, cmd } of [{ path: [] as string[], cmd: program }, ...leaves]) {
      const name = path.join(" ");
      const entry = entries.get(name);
      assert.ok(entry !== undefined, `the README's Commands block has no strata ${name}`);
      const expected = flagsOf(cmd).map((o) => o.long!);
      const listed = readmeFlags(entry).map((flag) => {
        const option = flagsOf(cmd).find((o) => o.long === flag || o.short === flag);
        assert.ok(option, `the README gives strata ${name} a flag it does not have: ${flag}`);
        return option.long!;
      });
      assert.deepEqual(listed, expected, `strata ${name}: the README's flags, and the command's`);
    }
  });

  test("each command loads alone, with global options before it, as a run of it builds the program", async () => {
    const names = program.commands.map((c) => c.name());
    for (const name of names) {
      const alone = await buildProgram(["node", "strata", "--cache-dir", "/tmp/x", "-q", name, "--help"]);
      const loaded = alone.program.commands.map((c) => c.name());
      assert.ok(
        loaded.includes(name),
        `strata ${name} does not load its own command (loaded: ${loaded.join(" ")})`,
      );
      assert.ok(loaded.length < names.length, `strata ${name} loads every command`);
    }
    const none = await buildProgram(["node", "strata", "--version"]);
    assert.equal(none.program.commands.length, 0);
    for (const first of ["--help", "-h", "--nonsense"]) {
      const before = await buildProgram(["node", "strata", first, "build"]);
      assert.equal(before.program.commands.length, names.length, `${first} before the command loads all`);
    }
    const unknown = await buildProgram(["node", "strata", "biuld"]);
    assert.deepEqual(
      unknown.program.commands.map((c) => c.name()),
      names,
      "an unknown word loads every command, to suggest one",
    );
  });
});
