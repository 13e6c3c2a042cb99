/**
 * The syntax tree of the POSIX shell subset maintainer scripts use (parse.ts makes it, run.ts
 * walks it). Words keep their quoting, because expansion (field splitting, globbing) depends on it.
 */
export type Part =
  | { k: "lit"; v: string; quoted: boolean }
  /** $name, ${name}, ${name:-word}, ${name##pattern}, ${#name}, $1, $?, $@ ... */
  | { k: "param"; name: string; op?: string; arg?: Word; quoted: boolean }
  | { k: "sub"; body: Node; quoted: boolean };

export type Word = Part[];

export interface Redirect {
  fd: number;
  op: "<" | ">" | ">>" | ">&" | "<&" | "<<";
  target: Word;
}

export type Node =
  | { t: "simple"; assigns: [string, Word][]; words: Word[]; redirs: Redirect[]; line: number }
  | { t: "pipe"; cmds: Node[]; negate: boolean }
  | { t: "andor"; first: Node; rest: ["&&" | "||", Node][] }
  | { t: "list"; items: Node[] }
  | { t: "if"; clauses: [Node, Node][]; otherwise?: Node }
  | { t: "for"; name: string; items?: Word[]; body: Node }
  | { t: "while"; until: boolean; cond: Node; body: Node }
  | { t: "case"; word: Word; arms: { patterns: Word[]; body: Node }[] }
  | { t: "group"; body: Node; subshell: boolean }
  | { t: "func"; name: string; body: Node }
  | { t: "redir"; body: Node; redirs: Redirect[] };
