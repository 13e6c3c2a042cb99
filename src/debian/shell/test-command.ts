import type { ImageTree } from "./tree.js";

/**
 * `test` and `[`, answered from the image's tree: file tests follow symlinks there (-L/-h do not),
 * string and integer comparisons, !, -a, -o and parentheses. Scripts run as root (or as the user
 * `su` names, for -O and -G), so -r and -w only ask whether the path exists. Returns the exit
 * status: 0 true, 1 false, 2 a malformed test.
 */
export interface TestUser {
  uid: number;
  gid: number;
}

export function testCommand(tree: ImageTree, cwd: string, argv: string[], user: TestUser = ROOT): number {
  const args = argv[0] === "[" ? argv.slice(1, -1) : argv.slice(1);
  if (argv[0] === "[" && argv.at(-1) !== "]") return 2;
  try {
    return evaluate(tree, cwd, args, user) ? 0 : 1;
  } catch {
    return 2;
  }
}

const ROOT: TestUser = { uid: 0, gid: 0 };

function evaluate(tree: ImageTree, cwd: string, args: string[], user: TestUser): boolean {
  let i = 0;
  const primary = (): boolean => {
    const a = args[i];
    if (a === "!") {
      i++;
      return !primary();
    }
    if (a === "(") {
      i++;
      const v = or();
      if (args[i++] !== ")") throw new Error("missing )");
      return v;
    }
    const op = args[i + 1];
    if (op !== undefined && BINARY.has(op) && i + 2 < args.length) {
      i += 3;
      return binary(args[i - 3], op, args[i - 1]);
    }
    if (a !== undefined && UNARY.has(a) && i + 1 < args.length) {
      i += 2;
      return unary(tree, cwd, a, args[i - 1], user);
    }
    if (a === undefined) throw new Error("missing argument");
    i++;
    return a !== "";
  };
  const and = (): boolean => {
    let v = primary();
    while (args[i] === "-a") {
      i++;
      v = primary() && v;
    }
    return v;
  };
  const or = (): boolean => {
    let v = and();
    while (args[i] === "-o") {
      i++;
      v = and() || v;
    }
    return v;
  };
  if (args.length === 0) return false;
  const v = or();
  if (i !== args.length) throw new Error("extra arguments");
  return v;
}

const UNARY = new Set([
  "-e",
  "-f",
  "-d",
  "-L",
  "-h",
  "-x",
  "-r",
  "-w",
  "-s",
  "-n",
  "-z",
  "-b",
  "-c",
  "-p",
  "-S",
  "-O",
  "-G",
]);
const BINARY = new Set(["=", "==", "!=", "-eq", "-ne", "-lt", "-le", "-gt", "-ge"]);

function unary(tree: ImageTree, cwd: string, op: string, arg: string, user: TestUser): boolean {
  if (op === "-n") return arg !== "";
  if (op === "-z") return arg === "";
  let path: string | undefined;
  if (arg === "") return false; // an empty path names nothing, not the current directory
  try {
    path = tree.resolve(arg, op !== "-L" && op !== "-h", cwd);
  } catch {
    path = undefined;
  }
  const node = path === undefined ? undefined : tree.at(path);
  switch (op) {
    case "-e":
    case "-r":
    case "-w":
      return node !== undefined;
    case "-f":
      return node?.type === "file";
    case "-d":
      return node?.type === "dir";
    case "-L":
    case "-h":
      return node?.type === "symlink";
    case "-x":
      return node !== undefined && (node.mode & 0o111) !== 0;
    case "-O":
      return node !== undefined && node.uid === user.uid;
    case "-G":
      return node !== undefined && node.gid === user.gid;
    case "-s":
      // A shipped file whose contents were not recorded is taken as not empty.
      if (node?.type !== "file") return false;
      return node.body === undefined ? tree.shipped(path!) : node.body.length > 0;
    default:
      return false; // devices, pipes and sockets are never in the tree
  }
}

function binary(a: string, op: string, b: string): boolean {
  if (op === "=" || op === "==") return a === b;
  if (op === "!=") return a !== b;
  if (!/^-?\d+$/.test(a.trim()) || !/^-?\d+$/.test(b.trim())) throw new Error("integer expected");
  const [x, y] = [Number(a), Number(b)];
  return (
    { "-eq": x === y, "-ne": x !== y, "-lt": x < y, "-le": x <= y, "-gt": x > y, "-ge": x >= y }[op] ?? false
  );
}
