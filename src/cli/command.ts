import type { Command } from "commander";
import { examples } from "./help.js";
import type { Output } from "./output.js";

/** A positional argument as commander declares it (`<name>`, `[name]`, `<name...>`), with its default. */
export interface ArgumentDef {
  name: string;
  description: string;
  default?: string;
}

/**
 * One command as data, in pnpm's shape (its name, help, options and a handler): each module under
 * commands/ exports one, and `addCommand` makes it a commander Command. A command that only groups
 * subcommands (index, job, key, admission) has no handler.
 */
export interface CommandDef<Flags = object, Params extends unknown[] = []> {
  name: string;
  /** The one line --help lists it with. */
  summary: string;
  arguments?: ArgumentDef[];
  /** Its flags in --help order: commander's own declarations, so --help reads as commander writes it. */
  options?: (cmd: Command) => Command;
  /** Help text shown between the flags and the examples. */
  notes?: string;
  examples: string[];
  /** Gets the positional arguments and flags commander parsed (in the order a command line has them). */
  handler?: (params: Params, flags: Flags, out: Output) => Promise<void> | void;
  subcommands?: AnyCommandDef[];
}

/** A command whatever its flags and arguments are (what main.ts and subcommand lists hold). */
// biome-ignore lint/suspicious/noExplicitAny: a handler's flags and arguments are its own; only addCommand calls it
export type AnyCommandDef = CommandDef<any, any>;

/** Adds `def` (and its subcommands) to `parent`; `out` is asked for the Output when a handler runs. */
export function addCommand(parent: Command, def: AnyCommandDef, out: () => Output): Command {
  const cmd = parent.command(def.name).description(def.summary);
  for (const a of def.arguments ?? []) cmd.argument(a.name, a.description, a.default);
  def.options?.(cmd);
  if (def.notes !== undefined) cmd.addHelpText("after", def.notes);
  cmd.addHelpText("after", examples(...def.examples));
  const { handler } = def;
  if (handler) {
    const count = def.arguments?.length ?? 0;
    cmd.action((...args: unknown[]) => handler(args.slice(0, count), args[count], out()));
  }
  for (const sub of def.subcommands ?? []) addCommand(cmd, sub, out);
  cmd.exitOverride();
  return cmd;
}
