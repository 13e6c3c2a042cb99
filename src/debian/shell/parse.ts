import type { Node, Part, Redirect, Word } from "./ast.js";

/**
 * A parser for the POSIX shell subset of maintainer scripts: simple commands with quoting and
 * $-expansions, pipelines, && and ||, if/for/while/until/case, { } and ( ) groups, functions,
 * redirections and here-documents. Anything else is a ShellSyntaxError, never a guess.
 */
export class ShellSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

const METACHARS = new Set([" ", "\t", "\n", ";", "&", "|", "(", ")", "<", ">"]);
const RESERVED = new Set(["then", "else", "elif", "fi", "do", "done", "esac", "}", "in"]);
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PARAM_OPS = [":-", ":=", ":+", ":?", "##", "%%", "-", "=", "+", "?", "#", "%"];
/** Nesting deeper than this is not a real script: refuse it rather than exhaust the stack. */
const MAX_DEPTH = 100;

interface PendingHeredoc {
  redirect: Redirect;
  delimiter: string;
  stripTabs: boolean;
  quoted: boolean;
}

export function parseScript(text: string): Node {
  const parser = new Parser(text);
  const list = parser.list(new Set());
  if (!parser.atEnd()) parser.fail(`unexpected '${parser.peekChar()}'`);
  return list;
}

class Parser {
  private pos = 0;
  private depth = 0;
  private pending: PendingHeredoc[] = [];

  constructor(private readonly src: string) {}

  atEnd(): boolean {
    return this.pos >= this.src.length;
  }

  peekChar(): string {
    return this.src[this.pos] ?? "";
  }

  fail(message: string): never {
    const line = this.src.slice(0, this.pos).split("\n").length;
    throw new ShellSyntaxError(message, line);
  }

  /** Commands separated by ; & or newlines, up to a reserved word in `until`, `)`, `;;` or the end. */
  list(until: Set<string>): Node {
    if (++this.depth > MAX_DEPTH) this.fail("nesting too deep");
    const items: Node[] = [];
    for (;;) {
      this.skipSeparators();
      if (this.atEnd() || this.peekChar() === ")" || this.src.startsWith(";;", this.pos)) break;
      const word = this.peekReserved();
      if (word !== undefined && (until.has(word) || RESERVED.has(word))) break;
      items.push(this.andOr());
      this.skipBlanks();
      const c = this.peekChar();
      if (c === ";" && !this.src.startsWith(";;", this.pos)) this.pos++;
      else if (c === "&" && !this.src.startsWith("&&", this.pos)) this.pos++;
      else if (c !== "\n" && !this.atEnd() && c !== ")" && !this.src.startsWith(";;", this.pos)) {
        const next = this.peekReserved();
        if (next === undefined || !until.has(next)) this.fail(`unexpected '${c}'`);
      }
    }
    this.depth--;
    return { t: "list", items };
  }

  private andOr(): Node {
    const first = this.pipeline();
    const rest: ["&&" | "||", Node][] = [];
    for (;;) {
      this.skipBlanks();
      const op = this.src.slice(this.pos, this.pos + 2);
      if (op !== "&&" && op !== "||") break;
      this.pos += 2;
      this.skipSeparators(false);
      rest.push([op, this.pipeline()]);
    }
    return rest.length === 0 ? first : { t: "andor", first, rest };
  }

  private pipeline(): Node {
    this.skipBlanks();
    let negate = false;
    if (this.peekReserved() === "!" || this.src.startsWith("! ", this.pos)) {
      negate = true;
      this.pos++;
    }
    const cmds = [this.command()];
    for (;;) {
      this.skipBlanks();
      if (this.peekChar() !== "|" || this.src.startsWith("||", this.pos)) break;
      this.pos++;
      this.skipSeparators(false);
      cmds.push(this.command());
    }
    return cmds.length === 1 && !negate ? cmds[0] : { t: "pipe", cmds, negate };
  }

  private command(): Node {
    this.skipBlanks();
    const word = this.peekReserved();
    let node: Node | undefined;
    if (word === "if") node = this.ifClause();
    else if (word === "for") node = this.forClause();
    else if (word === "while" || word === "until") node = this.whileClause(word === "until");
    else if (word === "case") node = this.caseClause();
    else if (word === "{") {
      this.pos++;
      node = { t: "group", body: this.list(new Set(["}"])), subshell: false };
      this.expectWord("}");
    } else if (this.peekChar() === "(") {
      this.pos++;
      node = { t: "group", body: this.list(new Set()), subshell: true };
      this.expectChar(")");
    } else {
      const fn = /^([A-Za-z_][A-Za-z0-9_-]*)[ \t]*\([ \t]*\)/.exec(this.src.slice(this.pos, this.pos + 200));
      if (fn) {
        this.pos += fn[0].length;
        this.skipSeparators();
        return { t: "func", name: fn[1], body: this.command() };
      }
      return this.simple();
    }
    const redirs = this.redirects();
    return redirs.length > 0 ? { t: "redir", body: node, redirs } : node;
  }

  private ifClause(): Node {
    this.expectWord("if");
    const clauses: [Node, Node][] = [];
    let otherwise: Node | undefined;
    for (;;) {
      const cond = this.list(new Set(["then"]));
      this.expectWord("then");
      clauses.push([cond, this.list(new Set(["elif", "else", "fi"]))]);
      const next = this.peekReserved();
      this.pos += (next ?? "").length;
      if (next === "elif") continue;
      if (next === "else") {
        otherwise = this.list(new Set(["fi"]));
        this.expectWord("fi");
      } else if (next !== "fi") this.fail("'if' without 'fi'");
      return { t: "if", clauses, otherwise };
    }
  }

  private forClause(): Node {
    this.expectWord("for");
    this.skipBlanks();
    const name = this.rawWord();
    if (!NAME.test(name)) this.fail(`bad for variable '${name}'`);
    this.skipSeparators();
    let items: Word[] | undefined;
    if (this.peekReserved() === "in") {
      this.pos += 2;
      items = [];
      for (;;) {
        this.skipBlanks();
        const c = this.peekChar();
        if (c === ";" || c === "\n" || this.atEnd()) break;
        items.push(this.word());
      }
    }
    this.skipSeparators();
    this.expectWord("do");
    const body = this.list(new Set(["done"]));
    this.expectWord("done");
    return { t: "for", name, items, body };
  }

  private whileClause(until: boolean): Node {
    this.pos += 5; // "while" and "until" are both five letters
    const cond = this.list(new Set(["do"]));
    this.expectWord("do");
    const body = this.list(new Set(["done"]));
    this.expectWord("done");
    return { t: "while", until, cond, body };
  }

  private caseClause(): Node {
    this.expectWord("case");
    this.skipBlanks();
    const word = this.word();
    this.skipSeparators();
    this.expectWord("in");
    const arms: { patterns: Word[]; body: Node }[] = [];
    for (;;) {
      this.skipSeparators();
      if (this.peekReserved() === "esac") break;
      if (this.peekChar() === "(") this.pos++;
      const patterns: Word[] = [];
      for (;;) {
        this.skipBlanks();
        patterns.push(this.word());
        this.skipBlanks();
        if (this.peekChar() === "|") this.pos++;
        else break;
      }
      this.expectChar(")");
      const body = this.list(new Set(["esac"]));
      arms.push({ patterns, body });
      this.skipBlanks();
      if (this.src.startsWith(";;", this.pos)) this.pos += 2;
      else if (this.peekReserved() !== "esac") this.fail("case arm without ';;'");
    }
    this.expectWord("esac");
    return { t: "case", word, arms };
  }

  private simple(): Node {
    const line = this.src.slice(0, this.pos).split("\n").length;
    const assigns: [string, Word][] = [];
    const words: Word[] = [];
    const redirs: Redirect[] = [];
    for (;;) {
      this.skipBlanks();
      const redirect = this.redirect();
      if (redirect) {
        redirs.push(redirect);
        continue;
      }
      const c = this.peekChar();
      if (this.atEnd() || METACHARS.has(c)) break;
      const assign = words.length === 0 ? /^([A-Za-z_][A-Za-z0-9_]*)=/.exec(this.src.slice(this.pos)) : null;
      if (assign) {
        this.pos += assign[0].length;
        assigns.push([assign[1], this.word()]);
      } else words.push(this.word());
    }
    if (assigns.length === 0 && words.length === 0 && redirs.length === 0) {
      this.fail(`unexpected '${this.peekChar() || "end of script"}'`);
    }
    return { t: "simple", assigns, words, redirs, line };
  }

  private redirects(): Redirect[] {
    const out: Redirect[] = [];
    for (;;) {
      this.skipBlanks();
      const r = this.redirect();
      if (!r) return out;
      out.push(r);
    }
  }

  private redirect(): Redirect | undefined {
    const m = /^(\d?)(<<-|<<|>>|>&|<&|>\||<|>)/.exec(this.src.slice(this.pos, this.pos + 4));
    if (!m) return undefined;
    this.pos += m[0].length;
    const op = m[2] === ">|" ? ">" : m[2] === "<<-" ? "<<" : (m[2] as Redirect["op"]);
    const fd = m[1] !== "" ? Number(m[1]) : op.startsWith("<") ? 0 : 1;
    this.skipBlanks();
    if (op !== "<<") return { fd, op, target: this.word() };
    const start = this.pos;
    const raw = this.rawWord();
    const redirect: Redirect = { fd, op, target: [] };
    const quoted = /['"\\]/.test(this.src.slice(start, this.pos));
    this.pending.push({ redirect, delimiter: raw.replace(/['"\\]/g, ""), stripTabs: m[2] === "<<-", quoted });
    return redirect;
  }

  /** A word's text without expansion (for names, here-document delimiters). */
  private rawWord(): string {
    const start = this.pos;
    while (!this.atEnd() && !METACHARS.has(this.peekChar())) {
      const c = this.peekChar();
      if (c === "'" || c === '"') {
        const end = this.src.indexOf(c, this.pos + 1);
        if (end < 0) this.fail("unterminated quote");
        this.pos = end + 1;
      } else this.pos++;
    }
    return this.src.slice(start, this.pos);
  }

  /** One word, its quoting kept. */
  word(): Word {
    const parts: Part[] = [];
    const lit = (v: string, quoted: boolean) => {
      const last = parts.at(-1);
      if (last?.k === "lit" && last.quoted === quoted) last.v += v;
      else parts.push({ k: "lit", v, quoted });
    };
    while (!this.atEnd() && !METACHARS.has(this.peekChar())) {
      const c = this.peekChar();
      if (c === "'") {
        const end = this.src.indexOf("'", this.pos + 1);
        if (end < 0) this.fail("unterminated single quote");
        lit(this.src.slice(this.pos + 1, end), true);
        this.pos = end + 1;
      } else if (c === '"') {
        this.pos++;
        lit("", true); // "" is a word of its own, even empty
        this.quotedText('"', parts, lit);
        this.pos++;
      } else if (c === "\\") {
        const next = this.src[this.pos + 1] ?? "";
        if (next !== "\n") lit(next, true);
        this.pos += 2;
      } else if (c === "$" || c === "`") {
        parts.push(this.expansion(false));
      } else {
        lit(c, false);
        this.pos++;
      }
    }
    return parts;
  }

  /** The inside of "..." (or a here-document body when `end` is ""): $, ` and \ stay special. */
  quotedText(end: string, parts: Part[], lit: (v: string, quoted: boolean) => void): void {
    for (;;) {
      if (this.atEnd()) {
        if (end === "") return;
        this.fail("unterminated double quote");
      }
      const c = this.peekChar();
      if (c === end) return;
      if (c === "\\") {
        const next = this.src[this.pos + 1] ?? "";
        const escapable = next === "$" || next === "`" || next === "\\" || next === "\n" || next === end;
        if (next !== "\n") lit(escapable ? next : `\\${next}`, true);
        this.pos += 2;
      } else if (c === "$" || c === "`") parts.push(this.expansion(true));
      else {
        lit(c, true);
        this.pos++;
      }
    }
  }

  private expansion(quoted: boolean): Part {
    if (++this.depth > MAX_DEPTH) this.fail("nesting too deep");
    try {
      return this.expansionBody(quoted);
    } finally {
      this.depth--;
    }
  }

  private expansionBody(quoted: boolean): Part {
    if (this.peekChar() === "`") {
      let end = this.pos + 1;
      let inner = "";
      while (end < this.src.length && this.src[end] !== "`") {
        if (this.src[end] === "\\" && "$`\\".includes(this.src[end + 1] ?? "")) end++;
        inner += this.src[end++];
      }
      if (end >= this.src.length) this.fail("unterminated backquote");
      this.pos = end + 1;
      return { k: "sub", body: parseScript(inner), quoted };
    }
    this.pos++; // "$"
    const c = this.peekChar();
    if (this.src.startsWith("((", this.pos)) {
      const end = this.arithmeticEnd(this.pos + 2);
      const expr = this.src.slice(this.pos + 2, end);
      this.pos = end + 2;
      return { k: "param", name: "", op: "((", arg: heredocWord(expr), quoted };
    }
    if (c === "(") {
      this.pos++;
      const body = this.list(new Set());
      this.expectChar(")");
      return { k: "sub", body, quoted };
    }
    if (c === "{") return this.braced(quoted);
    const name = /^([A-Za-z_][A-Za-z0-9_]*|[0-9?#@*$!-])/.exec(this.src.slice(this.pos, this.pos + 256));
    if (!name) return { k: "lit", v: "$", quoted };
    this.pos += name[0].length;
    return { k: "param", name: name[0], quoted };
  }

  /** Where the `))` closing a $(( that starts at `from` is: parentheses counted, quotes skipped. */
  private arithmeticEnd(from: number): number {
    let depth = 0;
    for (let i = from; i < this.src.length; i++) {
      const c = this.src[i];
      if (c === "'" || c === '"') {
        const close = this.src.indexOf(c, i + 1);
        if (close < 0) break;
        i = close;
      } else if (c === "(") depth++;
      else if (c === ")" && depth > 0) depth--;
      else if (c === ")" && this.src[i + 1] === ")") return i;
    }
    this.fail("unterminated $((");
  }

  private braced(quoted: boolean): Part {
    this.pos++; // "{"
    let length = false;
    if (this.peekChar() === "#" && this.src[this.pos + 1] !== "}") {
      length = true;
      this.pos++;
    }
    const name = /^([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[?#@*$!-])/.exec(this.src.slice(this.pos, this.pos + 256));
    if (!name) this.fail("bad parameter expansion");
    this.pos += name[0].length;
    if (length) {
      this.expectChar("}");
      return { k: "param", name: name[0], op: "length", quoted };
    }
    if (this.peekChar() === "}") {
      this.pos++;
      return { k: "param", name: name[0], quoted };
    }
    const op = PARAM_OPS.find((o) => this.src.startsWith(o, this.pos));
    if (!op) this.fail("unsupported parameter expansion operator");
    this.pos += op.length;
    const arg: Part[] = [];
    const lit = (v: string, q: boolean) => arg.push({ k: "lit", v, quoted: q });
    while (this.peekChar() !== "}") {
      if (this.atEnd()) this.fail("unterminated ${");
      const ch = this.peekChar();
      if (ch === "$" || ch === "`") arg.push(this.expansion(quoted));
      else if (ch === '"') {
        this.pos++;
        this.quotedText('"', arg, lit);
        this.pos++;
      } else if (ch === "'") {
        const end = this.src.indexOf("'", this.pos + 1);
        if (end < 0) this.fail("unterminated single quote");
        lit(this.src.slice(this.pos + 1, end), true);
        this.pos = end + 1;
      } else if (ch === "\\") {
        lit(this.src[this.pos + 1] ?? "", true);
        this.pos += 2;
      } else {
        lit(ch, quoted);
        this.pos++;
      }
    }
    this.pos++;
    return { k: "param", name: name[0], op, arg, quoted };
  }

  /** The next word when it is a plain unquoted literal (a candidate reserved word), else undefined. */
  peekReserved(): string | undefined {
    const m = /^(!|\{|\}|[A-Za-z]+)(?=[ \t\n;&|()<>]|$)/.exec(this.src.slice(this.pos, this.pos + 16));
    return m?.[1];
  }

  private expectWord(word: string): void {
    this.skipSeparators();
    if (this.peekReserved() !== word) this.fail(`expected '${word}'`);
    this.pos += word.length;
  }

  private expectChar(c: string): void {
    this.skipSeparators();
    if (this.peekChar() !== c) this.fail(`expected '${c}'`);
    this.pos++;
  }

  private skipBlanks(): void {
    for (;;) {
      const c = this.peekChar();
      if (c === " " || c === "\t") this.pos++;
      else if (c === "\\" && this.src[this.pos + 1] === "\n") this.pos += 2;
      else if (c === "#") {
        const end = this.src.indexOf("\n", this.pos);
        this.pos = end < 0 ? this.src.length : end;
      } else return;
    }
  }

  /** Blanks, comments and newlines (reading any here-documents due); `;` too unless told not to. */
  private skipSeparators(semicolons = true): void {
    for (;;) {
      this.skipBlanks();
      const c = this.peekChar();
      if (c === "\n") {
        this.pos++;
        this.readHeredocs();
      } else if (semicolons && c === ";" && !this.src.startsWith(";;", this.pos)) this.pos++;
      else return;
    }
  }

  private readHeredocs(): void {
    for (const doc of this.pending.splice(0)) {
      let body = "";
      for (;;) {
        if (this.atEnd()) this.fail(`here-document without its '${doc.delimiter}' line`);
        const end = this.src.indexOf("\n", this.pos);
        let line = this.src.slice(this.pos, end < 0 ? undefined : end);
        this.pos = end < 0 ? this.src.length : end + 1;
        if (doc.stripTabs) line = line.replace(/^\t+/, "");
        if (line === doc.delimiter) break;
        body += `${line}\n`;
      }
      doc.redirect.target = doc.quoted ? [{ k: "lit", v: body, quoted: true }] : heredocWord(body);
    }
  }
}

/** An unquoted here-document body: $ and ` expand, nothing is split or globbed. */
function heredocWord(body: string): Word {
  const parts: Part[] = [];
  new Parser(body).quotedText("", parts, (v, quoted) => parts.push({ k: "lit", v, quoted }));
  return parts;
}
