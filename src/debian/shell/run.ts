import { arithmetic } from "./arith.js";
import type { Node, Part, Redirect, Word } from "./ast.js";
import { DEFAULT_IFS, readFields, splitFields } from "./ifs.js";
import { hasWildcard, matchesPattern, type PatternPiece, patternBudget, trimPattern } from "./pattern.js";

/**
 * Runs a parsed maintainer script without a shell and without the host: every command goes to a
 * CommandHost, which implements the ones strata knows natively over the image's tree and records
 * the rest as skipped. Bounded in steps, loop iterations, call depth and output, so a hostile
 * script ends with a ShellLimitError instead of hanging the build.
 */
export interface CommandResult {
  status: number;
  stdout?: string;
  /** Why the output is not what the command would print (it was not followed, or read an unknown). */
  unknown?: string;
}

export interface CommandHost {
  /**
   * Runs a command that is neither a shell builtin nor a function of the script. `unknown` says why
   * its arguments are not what the script would pass (a value strata cannot know went into them):
   * then a command with an effect is not done.
   */
  run(argv: string[], stdin: string, shell: Shell, unknown?: string): CommandResult;
  /** Contents of a file of the tree, or undefined when unknown or missing. */
  read(path: string): string | undefined;
  /**
   * Writes a redirection's output to a file of the tree; `complete` is false when a command that
   * produced it was skipped, so the text is not what the script would have written.
   */
  write(path: string, text: string, append: boolean, complete: boolean): number;
  /** How many times a command was skipped so far. */
  skips(): number;
  /** Records a command (a redirection) as not done, and why. */
  skipCommand(command: string, reason: string): void;
  /** Paths matching a glob (absolute pattern pieces), sorted; empty when none. */
  glob(pieces: PatternPiece[]): string[];
}

export interface ShellLimits {
  steps: number;
  loopIterations: number;
  callDepth: number;
  outputBytes: number;
}

export const DEFAULT_LIMITS: ShellLimits = {
  steps: 200_000,
  loopIterations: 10_000,
  callDepth: 64,
  outputBytes: 1 << 20,
};

export class ShellLimitError extends Error {}

/** The longest value a variable or an expanded word may have (real scripts hold paths and lists). */
const MAX_VALUE = 1 << 20;

/**
 * Variables no longer than MAX_VALUE (a script that doubles a string in a loop stops, not the
 * build), each with why its value is unknown when it is: set from what strata cannot know.
 */
class Variables extends Map<string, string> {
  readonly unknown = new Map<string, string>();

  override set(name: string, value: string): this {
    if (value.length > MAX_VALUE)
      throw new ShellLimitError(`a value of ${value.length} characters for ${name}`);
    this.unknown.delete(name);
    return super.set(name, value);
  }

  /** Sets a value, unknown when `why` says so. */
  assign(name: string, value: string, why: string | undefined): void {
    this.set(name, value);
    if (why !== undefined) this.unknown.set(name, why);
  }

  override delete(name: string): boolean {
    this.unknown.delete(name);
    return super.delete(name);
  }

  override clear(): void {
    this.unknown.clear();
    super.clear();
  }
}
/** A script stopped (`exit`, or a failing command under `set -e`) with this status. */
export class ShellExit extends Error {
  constructor(readonly status: number) {
    super(`exit ${status}`);
  }
}
class Return {
  constructor(readonly status: number) {}
}
class LoopJump {
  constructor(
    readonly kind: "break" | "continue",
    public levels: number,
  ) {}
}

/** A command's standard input: `read` takes it a line at a time. */
interface Input {
  text: string;
  pos: number;
  /** Why the text is not what the script would read. */
  unknown?: string;
}

/** Output being collected, with why it is not what the script would print, when it is not. */
export type Output = string[] & { unknown?: string };

interface Io {
  stdin: Input;
  out: Output;
}

const input = (text: string, unknown?: string): Input => ({ text, pos: 0, unknown });
const unread = (i: Input): string => i.text.slice(i.pos);

export class Shell {
  readonly vars = new Variables();
  positional: string[];
  /** Why the positional parameters are unknown, when they were set from what strata cannot know. */
  positionalUnknown: string | undefined;
  status = 0;
  /** The argv of the last command (builtin or not, never a function) that failed: where a script stops. */
  lastFailed: string[] | undefined;
  private readonly functions = new Map<string, Node>();
  private errexit = false;
  /** >0 while running a condition (if/while test, left of && or ||, after !): set -e is off there. */
  private conditional = 0;
  /** Loop bodies running now: how far break and continue can reach. */
  private loops = 0;
  private steps = 0;
  private depth = 0;
  private outputBytes = 0;
  /** What pattern matching may still cost this script (case arms and ${x%%pattern} alike). */
  private readonly patternWork = patternBudget();
  /** Why the expansion being done depends on an unknown value (the first one it met). */
  private unknownSeen: string | undefined;
  /** An unset variable the part being expanded took: unknown only where it joins other text. */
  private unsetSeen: string | undefined;
  /** Why the working directory is unknown (after a `cd` elsewhere than /): relative paths are too. */
  private cwdUnknown: string | undefined;

  constructor(
    private readonly host: CommandHost,
    readonly name: string,
    args: string[],
    env: Record<string, string>,
    private readonly limits: ShellLimits = DEFAULT_LIMITS,
  ) {
    this.positional = args;
    for (const [k, v] of Object.entries(env)) this.vars.set(k, v);
  }

  /** Runs the whole script; its exit status (an `exit` included). */
  main(node: Node): number {
    try {
      return this.exec(node, { stdin: input(""), out: [] });
    } catch (err) {
      if (err instanceof ShellExit) return err.status;
      if (err instanceof Return) return err.status;
      throw err;
    }
  }

  private step(): void {
    if (++this.steps > this.limits.steps) throw new ShellLimitError(`more than ${this.limits.steps} steps`);
  }

  exec(node: Node, io: Io): number {
    this.step();
    switch (node.t) {
      case "list":
        for (const item of node.items) this.status = this.exec(item, io);
        return this.status;
      case "simple":
        return this.checked(this.simple(node, io));
      case "pipe":
        return this.pipeline(node, io);
      case "andor":
        return this.andOr(node, io);
      case "if":
        return this.ifClause(node, io);
      case "for":
        return this.forLoop(node, io);
      case "while":
        return this.whileLoop(node, io);
      case "case":
        return this.caseClause(node, io);
      case "group":
        return node.subshell
          ? this.checked(this.subshell(() => this.exec(node.body, io)))
          : this.exec(node.body, io);
      case "func":
        this.functions.set(node.name, node.body);
        return 0;
      case "redir":
        return this.withRedirects(node.redirs, io, (inner) => this.exec(node.body, inner));
    }
  }

  /** set -e: a failing command outside a condition ends the script. */
  private checked(status: number): number {
    this.status = status;
    if (status !== 0 && this.errexit && this.conditional === 0) throw new ShellExit(status);
    return status;
  }

  private condition<T>(run: () => T): T {
    this.conditional++;
    try {
      return run();
    } finally {
      this.conditional--;
    }
  }

  private pipeline(node: Extract<Node, { t: "pipe" }>, io: Io): number {
    const run = () => {
      let stdin = io.stdin;
      let status = 0;
      node.cmds.forEach((cmd, i) => {
        const out: Output = [];
        status = this.subshell(() =>
          this.exec(cmd, { stdin, out: i === node.cmds.length - 1 ? io.out : out }),
        );
        stdin = input(out.join(""), out.unknown);
      });
      return status;
    };
    if (!node.negate) return this.checked(run());
    return (this.status = this.condition(run) === 0 ? 1 : 0);
  }

  private andOr(node: Extract<Node, { t: "andor" }>, io: Io): number {
    const chain: [string, Node][] = [["", node.first], ...node.rest];
    let status = 0;
    for (const [i, [op, cmd]] of chain.entries()) {
      if ((op === "&&" && status !== 0) || (op === "||" && status === 0)) continue;
      status = i === chain.length - 1 ? this.exec(cmd, io) : this.condition(() => this.exec(cmd, io));
    }
    return (this.status = status);
  }

  private ifClause(node: Extract<Node, { t: "if" }>, io: Io): number {
    for (const [cond, body] of node.clauses) {
      if (this.condition(() => this.exec(cond, io)) === 0) return this.exec(body, io);
    }
    return node.otherwise ? this.exec(node.otherwise, io) : (this.status = 0);
  }

  private forLoop(node: Extract<Node, { t: "for" }>, io: Io): number {
    const [items, unknown] = node.items
      ? this.tracking(() => node.items!.flatMap((w) => this.fields(w)))
      : [this.positional, this.positionalUnknown];
    if (items.length > this.limits.loopIterations)
      throw new ShellLimitError("a for loop over too many items");
    let status = 0;
    for (const item of items) {
      this.vars.assign(node.name, item, unknown);
      const jump = this.loopBody(() => (status = this.exec(node.body, io)));
      if (jump === "break") break;
    }
    return (this.status = status);
  }

  private whileLoop(node: Extract<Node, { t: "while" }>, io: Io): number {
    let status = 0;
    for (let i = 0; ; i++) {
      if (i >= this.limits.loopIterations) throw new ShellLimitError(`a loop ran ${i} times`);
      const cond = this.condition(() => this.exec(node.cond, io));
      if ((cond === 0) === node.until) break;
      if (this.loopBody(() => (status = this.exec(node.body, io))) === "break") break;
    }
    return (this.status = status);
  }

  /** Runs a loop body; "break" when the loop must stop here. Jumps for outer loops propagate. */
  private loopBody(run: () => void): "break" | undefined {
    this.loops++;
    try {
      run();
    } catch (err) {
      if (!(err instanceof LoopJump)) throw err;
      if (--err.levels > 0) throw err;
      return err.kind === "break" ? "break" : undefined;
    } finally {
      this.loops--;
    }
    return undefined;
  }

  private caseClause(node: Extract<Node, { t: "case" }>, io: Io): number {
    const value = this.expand(node.word);
    for (const arm of node.arms) {
      if (arm.patterns.some((p) => matchesPattern(value, this.pattern(p), this.patternWork)))
        return this.exec(arm.body, io);
    }
    return (this.status = 0);
  }

  /** Runs with variables, functions and options restored afterwards, as ( ) and $( ) do. */
  subshell(run: () => number): number {
    const saved = {
      vars: new Map(this.vars),
      unknown: new Map(this.vars.unknown),
      positional: this.positional,
      positionalUnknown: this.positionalUnknown,
      cwdUnknown: this.cwdUnknown,
      errexit: this.errexit,
    };
    const functions = new Map(this.functions);
    try {
      return run();
    } catch (err) {
      if (err instanceof ShellExit) return err.status;
      throw err;
    } finally {
      // Restored in place: a caller may hold this map (this.vars.set(name, $(...))).
      this.vars.clear();
      for (const [k, v] of saved.vars) this.vars.assign(k, v, saved.unknown.get(k));
      this.positional = saved.positional;
      this.positionalUnknown = saved.positionalUnknown;
      this.cwdUnknown = saved.cwdUnknown;
      this.errexit = saved.errexit;
      this.functions.clear();
      for (const [k, v] of functions) this.functions.set(k, v);
    }
  }

  private simple(node: Extract<Node, { t: "simple" }>, io: Io): number {
    this.status = 0;
    const [argv, argsUnknown] = this.tracking(() => node.words.flatMap((w) => this.fields(w)));
    const unknown = argsUnknown ?? this.relativeUnknown(argv.slice(1));
    const saved = node.assigns.map(
      ([name]) => [name, this.vars.get(name), this.vars.unknown.get(name)] as const,
    );
    // Left to right: `a=1 b=$a` sees the new a, as dash does.
    for (const [name, w] of node.assigns)
      this.vars.assign(name, ...this.tracking(() => this.expand(w, true)));
    if (argv.length === 0) return this.withRedirects(node.redirs, io, () => this.status);
    try {
      return this.withRedirects(node.redirs, io, (inner) => this.command(argv, unknown, inner));
    } finally {
      // Assignments before a command are for that command only (functions and builtins aside).
      if (!this.functions.has(argv[0]) && !["export", "readonly", "local"].includes(argv[0])) {
        for (const [name, value, why] of saved) {
          if (value === undefined) this.vars.delete(name);
          else this.vars.assign(name, value, why);
        }
      }
    }
  }

  /**
   * After a `cd` (paths are followed from /), an argument that may be a relative path names what
   * strata cannot know; options (-f) aside, any word not starting with "/" may be one.
   */
  private relativeUnknown(words: string[]): string | undefined {
    if (this.cwdUnknown === undefined) return undefined;
    return words.some((w) => w !== "" && !w.startsWith("/") && !w.startsWith("-"))
      ? this.cwdUnknown
      : undefined;
  }

  /** Runs a command; `unknown` says why its arguments depend on a value strata cannot know. */
  private command(argv: string[], unknown: string | undefined, io: Io): number {
    const [name, ...args] = argv;
    const fn = this.functions.get(name);
    if (fn) return this.call(fn, args, unknown, io);
    const builtin = this.builtin(name, args, unknown, io);
    const status = builtin ?? this.external(argv, unknown, io);
    if (status !== 0) this.lastFailed = argv;
    return status;
  }

  private external(argv: string[], unknown: string | undefined, io: Io): number {
    const result = this.host.run(argv, unread(io.stdin), this, unknown);
    // What a command prints from input or arguments strata cannot know is not known either.
    this.emit(io, result.stdout ?? "", result.unknown ?? unknown ?? io.stdin.unknown);
    return result.status;
  }

  emit(io: Io, text: string, unknown?: string): void {
    this.outputBytes += text.length;
    if (this.outputBytes > this.limits.outputBytes) throw new ShellLimitError("too much output");
    io.out.push(text);
    io.out.unknown ??= unknown;
  }

  /** Runs text of the script's own making (`.` of a file, eval) in this shell, depth-bounded. */
  nested(node: Node, stdin: string, out: Output): number {
    if (++this.depth > this.limits.callDepth)
      throw new ShellLimitError("sourced files or eval nest too deep");
    try {
      return this.exec(node, { stdin: input(stdin), out });
    } finally {
      this.depth--;
    }
  }

  /**
   * Runs another script as its own process would: its own arguments, no `set -e` and no functions
   * of the caller, and nothing it sets or defines (or an `exit`) reaching back.
   */
  script(node: Node, args: string[], stdin: string, out: Output): number {
    return this.subshell(() => {
      this.positional = args;
      // Known: a script is not run on arguments strata cannot know (MaintainerHost.run).
      this.positionalUnknown = undefined;
      this.errexit = false;
      this.functions.clear();
      return this.nested(node, stdin, out);
    });
  }

  private call(body: Node, args: string[], unknown: string | undefined, io: Io): number {
    if (++this.depth > this.limits.callDepth) throw new ShellLimitError("functions call each other too deep");
    const [positional, positionalUnknown] = [this.positional, this.positionalUnknown];
    this.positional = args;
    this.positionalUnknown = unknown;
    try {
      return this.exec(body, io);
    } catch (err) {
      if (err instanceof Return) return (this.status = err.status);
      throw err;
    } finally {
      this.positional = positional;
      this.positionalUnknown = positionalUnknown;
      this.depth--;
    }
  }

  /** The builtins whose effect is on the shell itself; undefined for any other command. */
  private builtin(name: string, args: string[], unknown: string | undefined, io: Io): number | undefined {
    const number = (fallback: number) =>
      args[0] !== undefined && /^\d+$/.test(args[0]) ? Number(args[0]) : fallback;
    switch (name) {
      case "exit":
        throw new ShellExit(number(this.status));
      case "return":
        throw new Return(number(this.status));
      case "break":
      case "continue":
        // As dash: outside a loop it does nothing, and N beyond the loops there are means all of them.
        if (this.loops === 0) return 0;
        throw new LoopJump(name, Math.min(number(1), this.loops));
      case "set": {
        const options = args.indexOf("--") < 0 ? args : args.slice(0, args.indexOf("--"));
        for (const a of options) {
          if (/^-[a-z]*e/.test(a)) this.errexit = true;
          else if (/^\+[a-z]*e/.test(a)) this.errexit = false;
        }
        if (options.length < args.length) {
          this.positional = args.slice(options.length + 1);
          this.positionalUnknown = unknown;
        }
        return 0;
      }
      case "cd": {
        const dir = args.find((a) => !a.startsWith("-"));
        this.cwdUnknown =
          dir === "/" ? undefined : "the working directory after cd, which strata does not follow";
        return 0;
      }
      case "shift":
        this.positional = this.positional.slice(number(1));
        return 0;
      case "local":
      case "export":
      case "readonly":
        for (const a of args) {
          const eq = a.indexOf("=");
          if (eq > 0) this.vars.assign(a.slice(0, eq), a.slice(eq + 1), unknown);
        }
        return 0;
      case "unset":
        for (const a of args) if (!a.startsWith("-")) this.vars.delete(a);
        return 0;
      case "eval":
        return this.external(["eval", ...args], unknown, io);
      case "read":
        return this.read(args, io.stdin);
      default:
        return undefined;
    }
  }

  /** read [-r] NAME...: one line of input split on IFS, the last name taking the rest. */
  private read(args: string[], stdin: Input): number {
    if (stdin.pos >= stdin.text.length) return 1;
    const names = args.filter((a) => !a.startsWith("-"));
    const end = stdin.text.indexOf("\n", stdin.pos);
    let line = stdin.text.slice(stdin.pos, end < 0 ? undefined : end);
    stdin.pos = end < 0 ? stdin.text.length : end + 1;
    if (!args.includes("-r")) line = line.replace(/\\(.)/g, "$1");
    const targets = names.length > 0 ? names : ["REPLY"];
    const values = readFields(line, targets.length, this.vars.get("IFS") ?? DEFAULT_IFS);
    for (const [i, name] of targets.entries()) this.vars.assign(name, values[i], stdin.unknown);
    return 0;
  }

  private withRedirects(redirs: Redirect[], io: Io, run: (io: Io) => number): number {
    let inner = io;
    const files: { path: string; append: boolean; out: Output }[] = [];
    for (const r of redirs) {
      const [target, targetUnknown] = this.tracking(() =>
        r.op === "<<" ? this.expand(r.target) : this.fields(r.target).join(" "),
      );
      const names = r.fd === 1 ? r.op === ">" || r.op === ">>" : r.op === "<";
      const unknown = targetUnknown ?? (names ? this.relativeUnknown([target]) : undefined);
      if (r.op === "<<") inner = { ...inner, stdin: input(target, unknown) };
      else if (r.op === "<") inner = { ...inner, stdin: this.readInput(target, unknown) };
      else if (r.fd !== 1 || r.op === "<&")
        continue; // stderr and fd juggling: nothing to keep
      else if (r.op === ">&") inner = target === "1" ? inner : { ...inner, out: [] };
      else if (target === "/dev/null") inner = { ...inner, out: [] };
      else if (unknown !== undefined) {
        // Never a write to a path strata cannot know: `> $TMP` with TMP unknown could name anything.
        this.host.skipCommand(`${r.op} ${target || '""'}`, `not done: its path depends on ${unknown}`);
        inner = { ...inner, out: [] };
      } else {
        const out: Output = [];
        files.push({ path: target, append: r.op === ">>", out });
        inner = { ...inner, out };
      }
    }
    const skipsBefore = this.host.skips();
    const status = run(inner);
    let failed = false;
    for (const f of files) {
      const complete = this.host.skips() === skipsBefore && f.out.unknown === undefined;
      failed = this.host.write(f.path, f.out.join(""), f.append, complete) !== 0 || failed;
    }
    return failed ? (this.status = 1) : status;
  }

  /** `< FILE`: its text, unknown when strata does not have it (or its name is unknown). */
  private readInput(path: string, unknown: string | undefined): Input {
    if (unknown !== undefined) return input("", unknown);
    const text = this.host.read(path);
    return text === undefined
      ? input("", `the contents of ${path}, which strata does not have`)
      : input(text);
  }

  // Expansion

  /**
   * Runs an expansion; its result, and why it depends on a value strata cannot know (undefined when
   * it does not). Expansions inside it (a command substitution's commands) track their own.
   */
  private tracking<T>(run: () => T): [T, string | undefined] {
    const outer = this.unknownSeen;
    this.unknownSeen = undefined;
    try {
      const result = run();
      return [result, this.unknownSeen];
    } finally {
      this.unknownSeen = outer;
    }
  }

  /** Notes that the expansion being done took a value strata cannot know. */
  private noteUnknown(why: string | undefined): void {
    this.unknownSeen ??= why;
  }

  /** A part's text, and the unset variable it took, if any. */
  private partUnset(part: Part): [string, string | undefined] {
    const outer = this.unsetSeen;
    this.unsetSeen = undefined;
    try {
      const text = this.partText(part);
      return [text, this.unsetSeen];
    } finally {
      this.unsetSeen = outer;
    }
  }

  /**
   * A word expanded to one string (no field splitting, no globbing): case words, here-documents,
   * assignments. An unset variable in it makes it unknown when it joins other text, and always in
   * an assignment (the value may be joined later: `d=$UNSET; rm -rf $d/*`).
   */
  expand(word: Word, assignment = false): string {
    let unset: string | undefined;
    const text = word
      .map((p) => {
        const [t, why] = this.partUnset(p);
        unset ??= why;
        return t;
      })
      .join("");
    if (text.length > MAX_VALUE) throw new ShellLimitError(`a word of ${text.length} characters`);
    if (text !== "" || assignment) this.noteUnknown(unset);
    return text;
  }

  /** A word expanded to fields: unquoted expansions split on blanks, globs matched in the tree. */
  fields(word: Word): string[] {
    const fields: PatternPiece[][] = [];
    let current: PatternPiece[] | undefined;
    // Fields an unset variable joined (`$UNSET/etc` is "/etc"): unknown unless they are empty.
    const unsetIn = new Map<PatternPiece[], string>();
    let pendingUnset: string | undefined;
    const add = (text: string, quoted: boolean) => {
      current ??= [];
      if (current.length === 0 || fields.at(-1) !== current) fields.push(current);
      current.push({ text, quoted });
      if (pendingUnset !== undefined && !unsetIn.has(current)) unsetIn.set(current, pendingUnset);
      pendingUnset = undefined;
    };
    for (const part of word) {
      if (part.k === "param" && part.name === "@" && part.quoted && !part.op) {
        this.noteUnknown(this.positionalUnknown);
        this.positional.forEach((arg, i) => {
          if (i > 0) current = undefined;
          add(arg, true);
        });
        continue;
      }
      const [text, unset] = this.partUnset(part);
      if (unset !== undefined) {
        if (current !== undefined && !unsetIn.has(current)) unsetIn.set(current, unset);
        else pendingUnset ??= unset;
      }
      if (part.quoted || part.k === "lit") {
        add(text, part.quoted);
        continue;
      }
      splitFields(text, this.vars.get("IFS") ?? DEFAULT_IFS).forEach((piece, i) => {
        if (i > 0) current = undefined;
        if (piece.text !== "" || piece.kept) add(piece.text, false);
      });
    }
    for (const [pieces, why] of unsetIn) if (pieces.some((p) => p.text !== "")) this.noteUnknown(why);
    return fields.flatMap((pieces) => {
      if (!hasWildcard(pieces)) return [pieces.map((p) => p.text).join("")];
      const matches = this.host.glob(pieces);
      return matches.length > 0 ? matches : [pieces.map((p) => p.text).join("")];
    });
  }

  private pattern(word: Word): PatternPiece[] {
    return word.map((p) => ({ text: this.partUnset(p)[0], quoted: p.quoted }));
  }

  private partText(part: Part): string {
    if (part.k === "lit") return part.v;
    if (part.k === "sub") {
      const out: Output = [];
      this.status = this.subshell(() => this.exec(part.body, { stdin: input(""), out }));
      this.noteUnknown(out.unknown);
      return out.join("").replace(/\n+$/, "");
    }
    return this.param(part);
  }

  private param(part: Extract<Part, { k: "param" }>): string {
    if (part.op === "((")
      return String(
        arithmetic(this.expand(part.arg ?? []), (n) => {
          this.noteUnknown(this.vars.unknown.get(n));
          return this.vars.get(n);
        }),
      );
    const value = this.variable(part.name);
    // An unset variable is unknown where its value is used; where the script tests whether it is
    // set (${X:-default}, ${X+word}...), that answer is known.
    if (value !== undefined || this.unknownOf(part.name) !== undefined)
      this.noteUnknown(this.unknownOf(part.name));
    else if (part.op === undefined || part.op === "length" || !/^:?[-=+?]$/.test(part.op))
      this.unsetSeen ??= `$${part.name}, which is not set`;
    const arg = () => this.expand(part.arg ?? []);
    switch (part.op) {
      case undefined:
        return value ?? "";
      case "length":
        return String((value ?? "").length);
      case ":-":
        return value ? value : arg();
      case "-":
        return value ?? arg();
      case ":=":
      case "=":
        if (part.op === ":=" ? !value : value === undefined) {
          const [text, unknown] = this.tracking(arg);
          this.noteUnknown(unknown);
          this.vars.assign(part.name, text, unknown);
        }
        return this.vars.get(part.name) ?? "";
      case ":+":
        return value ? arg() : "";
      case "+":
        return value !== undefined ? arg() : "";
      case ":?":
      case "?":
        if (part.op === ":?" ? !value : value === undefined) throw new ShellExit(1);
        return value ?? "";
      default:
        return trimPattern(value ?? "", part.op, this.pattern(part.arg ?? []), this.patternWork);
    }
  }

  /** Why a set variable's value is unknown, when it is. */
  private unknownOf(name: string): string | undefined {
    if (/^\d+$/.test(name) && name !== "0") return this.positionalUnknown;
    if (name === "@" || name === "*" || name === "#") return this.positionalUnknown;
    return this.vars.unknown.get(name);
  }

  private variable(name: string): string | undefined {
    if (/^\d+$/.test(name)) return name === "0" ? this.name : this.positional[Number(name) - 1];
    switch (name) {
      case "?":
        return String(this.status);
      case "#":
        return String(this.positional.length);
      case "@":
      case "*":
        return this.positional.join(" ");
      case "$":
        return "1";
      case "!":
      case "-":
        return "";
      default:
        return this.vars.get(name);
    }
  }
}
