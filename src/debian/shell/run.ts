import { arithmetic } from "./arith.js";
import type { Node, Part, Redirect, Word } from "./ast.js";
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
}

export interface CommandHost {
  /** Runs a command that is neither a shell builtin nor a function of the script. */
  run(argv: string[], stdin: string, shell: Shell): CommandResult;
  /** Contents of a file of the tree, or undefined when unknown or missing. */
  read(path: string): string | undefined;
  /**
   * Writes a redirection's output to a file of the tree; `complete` is false when a command that
   * produced it was skipped, so the text is not what the script would have written.
   */
  write(path: string, text: string, append: boolean, complete: boolean): number;
  /** How many commands were skipped so far. */
  skips(): number;
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

/** Variables no longer than MAX_VALUE: a script that doubles a string in a loop stops, not the build. */
class Variables extends Map<string, string> {
  override set(name: string, value: string): this {
    if (value.length > MAX_VALUE)
      throw new ShellLimitError(`a value of ${value.length} characters for ${name}`);
    return super.set(name, value);
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
}

interface Io {
  stdin: Input;
  out: string[];
}

const input = (text: string): Input => ({ text, pos: 0 });
const unread = (i: Input): string => i.text.slice(i.pos);

const IFS = /[ \t\n]+/;

export class Shell {
  readonly vars: Map<string, string> = new Variables();
  positional: string[];
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
        const out: string[] = [];
        status = this.subshell(() =>
          this.exec(cmd, { stdin, out: i === node.cmds.length - 1 ? io.out : out }),
        );
        stdin = input(out.join(""));
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
    const items = node.items ? node.items.flatMap((w) => this.fields(w)) : this.positional;
    if (items.length > this.limits.loopIterations)
      throw new ShellLimitError("a for loop over too many items");
    let status = 0;
    for (const item of items) {
      this.vars.set(node.name, item);
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
    const saved = { vars: new Map(this.vars), positional: this.positional, errexit: this.errexit };
    const functions = new Map(this.functions);
    try {
      return run();
    } catch (err) {
      if (err instanceof ShellExit) return err.status;
      throw err;
    } finally {
      // Restored in place: a caller may hold this map (this.vars.set(name, $(...))).
      this.vars.clear();
      for (const [k, v] of saved.vars) this.vars.set(k, v);
      this.positional = saved.positional;
      this.errexit = saved.errexit;
      this.functions.clear();
      for (const [k, v] of functions) this.functions.set(k, v);
    }
  }

  private simple(node: Extract<Node, { t: "simple" }>, io: Io): number {
    this.status = 0;
    const argv = node.words.flatMap((w) => this.fields(w));
    const saved = node.assigns.map(([name]) => [name, this.vars.get(name)] as const);
    // Left to right: `a=1 b=$a` sees the new a, as dash does.
    for (const [name, w] of node.assigns) this.vars.set(name, this.expand(w));
    if (argv.length === 0) return this.withRedirects(node.redirs, io, () => this.status);
    try {
      return this.withRedirects(node.redirs, io, (inner) => this.command(argv, inner));
    } finally {
      // Assignments before a command are for that command only (functions and builtins aside).
      if (!this.functions.has(argv[0]) && !["export", "readonly", "local"].includes(argv[0])) {
        for (const [name, value] of saved) {
          if (value === undefined) this.vars.delete(name);
          else this.vars.set(name, value);
        }
      }
    }
  }

  private command(argv: string[], io: Io): number {
    const [name, ...args] = argv;
    const fn = this.functions.get(name);
    if (fn) return this.call(fn, args, io);
    const builtin = this.builtin(name, args, io);
    const status = builtin ?? this.external(argv, io);
    if (status !== 0) this.lastFailed = argv;
    return status;
  }

  private external(argv: string[], io: Io): number {
    const result = this.host.run(argv, unread(io.stdin), this);
    if (result.stdout) this.emit(io, result.stdout);
    return result.status;
  }

  emit(io: Io, text: string): void {
    this.outputBytes += text.length;
    if (this.outputBytes > this.limits.outputBytes) throw new ShellLimitError("too much output");
    io.out.push(text);
  }

  /** Runs text of the script's own making (`.` of a file, eval) in this shell, depth-bounded. */
  nested(node: Node, stdin: string, out: string[]): number {
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
  script(node: Node, args: string[], stdin: string, out: string[]): number {
    return this.subshell(() => {
      this.positional = args;
      this.errexit = false;
      this.functions.clear();
      return this.nested(node, stdin, out);
    });
  }

  private call(body: Node, args: string[], io: Io): number {
    if (++this.depth > this.limits.callDepth) throw new ShellLimitError("functions call each other too deep");
    const positional = this.positional;
    this.positional = args;
    try {
      return this.exec(body, io);
    } catch (err) {
      if (err instanceof Return) return (this.status = err.status);
      throw err;
    } finally {
      this.positional = positional;
      this.depth--;
    }
  }

  /** The builtins whose effect is on the shell itself; undefined for any other command. */
  private builtin(name: string, args: string[], io: Io): number | undefined {
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
        if (options.length < args.length) this.positional = args.slice(options.length + 1);
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
          if (eq > 0) this.vars.set(a.slice(0, eq), a.slice(eq + 1));
        }
        return 0;
      case "unset":
        for (const a of args) if (!a.startsWith("-")) this.vars.delete(a);
        return 0;
      case "eval":
        return this.host.run(["eval", ...args], unread(io.stdin), this).status;
      case "read":
        return this.read(args, io.stdin);
      default:
        return undefined;
    }
  }

  /** read [-r] NAME...: one line of input split on blanks, the last name taking the rest. */
  private read(args: string[], stdin: Input): number {
    if (stdin.pos >= stdin.text.length) return 1;
    const names = args.filter((a) => !a.startsWith("-"));
    const end = stdin.text.indexOf("\n", stdin.pos);
    let line = stdin.text.slice(stdin.pos, end < 0 ? undefined : end);
    stdin.pos = end < 0 ? stdin.text.length : end + 1;
    if (!args.includes("-r")) line = line.replace(/\\(.)/g, "$1");
    let rest = line.replace(/^[ \t]+|[ \t]+$/g, "");
    const targets = names.length > 0 ? names : ["REPLY"];
    targets.forEach((name, i) => {
      if (i === targets.length - 1) {
        this.vars.set(name, rest);
        return;
      }
      const m = /^(\S*)[ \t]*(.*)$/s.exec(rest)!;
      this.vars.set(name, m[1]);
      rest = m[2];
    });
    return 0;
  }

  private withRedirects(redirs: Redirect[], io: Io, run: (io: Io) => number): number {
    let inner = io;
    const files: { path: string; append: boolean; out: string[] }[] = [];
    for (const r of redirs) {
      const target = r.op === "<<" ? this.expand(r.target) : this.fields(r.target).join(" ");
      if (r.op === "<<") inner = { ...inner, stdin: input(target) };
      else if (r.op === "<") inner = { ...inner, stdin: input(this.host.read(target) ?? "") };
      else if (r.fd !== 1 || r.op === "<&")
        continue; // stderr and fd juggling: nothing to keep
      else if (r.op === ">&") inner = target === "1" ? inner : { ...inner, out: [] };
      else if (target === "/dev/null") inner = { ...inner, out: [] };
      else {
        const out: string[] = [];
        files.push({ path: target, append: r.op === ">>", out });
        inner = { ...inner, out };
      }
    }
    const skipsBefore = this.host.skips();
    const status = run(inner);
    const complete = this.host.skips() === skipsBefore;
    let failed = false;
    for (const f of files)
      failed = this.host.write(f.path, f.out.join(""), f.append, complete) !== 0 || failed;
    return failed ? (this.status = 1) : status;
  }

  // Expansion

  /** A word expanded to one string (no field splitting, no globbing): case words, assignments. */
  expand(word: Word): string {
    const text = word.map((p) => this.partText(p)).join("");
    if (text.length > MAX_VALUE) throw new ShellLimitError(`a word of ${text.length} characters`);
    return text;
  }

  /** A word expanded to fields: unquoted expansions split on blanks, globs matched in the tree. */
  fields(word: Word): string[] {
    const fields: PatternPiece[][] = [];
    let current: PatternPiece[] | undefined;
    const add = (text: string, quoted: boolean) => {
      current ??= [];
      if (current.length === 0 || fields.at(-1) !== current) fields.push(current);
      current.push({ text, quoted });
    };
    for (const part of word) {
      if (part.k === "param" && part.name === "@" && part.quoted && !part.op) {
        this.positional.forEach((arg, i) => {
          if (i > 0) current = undefined;
          add(arg, true);
        });
        continue;
      }
      const text = this.partText(part);
      if (part.quoted || part.k === "lit") {
        add(text, part.quoted);
        continue;
      }
      const pieces = text.split(IFS);
      pieces.forEach((piece, i) => {
        if (i > 0) current = undefined;
        if (piece !== "") add(piece, false);
      });
    }
    return fields.flatMap((pieces) => {
      if (!hasWildcard(pieces)) return [pieces.map((p) => p.text).join("")];
      const matches = this.host.glob(pieces);
      return matches.length > 0 ? matches : [pieces.map((p) => p.text).join("")];
    });
  }

  private pattern(word: Word): PatternPiece[] {
    return word.map((p) => ({ text: this.partText(p), quoted: p.quoted }));
  }

  private partText(part: Part): string {
    if (part.k === "lit") return part.v;
    if (part.k === "sub") {
      const out: string[] = [];
      this.status = this.subshell(() => this.exec(part.body, { stdin: input(""), out }));
      return out.join("").replace(/\n+$/, "");
    }
    return this.param(part);
  }

  private param(part: Extract<Part, { k: "param" }>): string {
    if (part.op === "((") return String(arithmetic(this.expand(part.arg ?? []), (n) => this.vars.get(n)));
    const value = this.variable(part.name);
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
        if (part.op === ":=" ? !value : value === undefined) this.vars.set(part.name, arg());
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
