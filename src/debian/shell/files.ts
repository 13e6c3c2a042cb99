import { baseName, type ImageTree, type TreeNode } from "./tree.js";

/**
 * The file commands of maintainer scripts (ln, mkdir, cp, mv, rm, rmdir, touch, chmod, chown,
 * chgrp, install, cat), done on the image's tree. A path a package or the base layer ships is never
 * removed, moved or rewritten without its contents: its layer stays as built, and the command is
 * reported as skipped with the reason instead.
 */
export interface FileContext {
  tree: ImageTree;
  /** Records that the command was not done, and why. */
  skip(reason: string): void;
  /** A user's or group's id by name (or a number given as such); undefined when unknown. */
  id(name: string, kind: "user" | "group"): number | undefined;
  /** A user's or group's name by id; undefined when unknown. */
  name(id: number, kind: "user" | "group"): string | undefined;
}

type FileCommand = (ctx: FileContext, args: string[], stdin: string) => { status: number; stdout?: string };

const LONG: Record<string, string> = {
  "--parents": "p",
  "--force": "f",
  "--symbolic": "s",
  "--recursive": "r",
  "--no-dereference": "n",
  "--no-target-directory": "T",
  "--verbose": "v",
  "--quiet": "q",
  "--archive": "a",
  "--directory": "d",
  "--ignore-fail-on-non-empty": "i",
  "--tmpdir": "t",
};

/** Short flags (grouped or not), long flags, and the values of the options in `valued`. */
function options(args: string[], valued = "") {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      rest.push(...args.slice(i + 1));
      break;
    }
    const long = /^--([a-z-]+)(?:=(.*))?$/.exec(a);
    if (long) {
      if (long[2] !== undefined) values.set(long[1][0], long[2]);
      else if (LONG[a]) flags.add(LONG[a]);
      continue;
    }
    if (!/^-[A-Za-z]/.test(a)) {
      rest.push(a);
      continue;
    }
    for (let j = 1; j < a.length; j++) {
      if (valued.includes(a[j])) {
        values.set(a[j], a.slice(j + 1) || args[++i] || "");
        break;
      }
      flags.add(a[j]);
    }
  }
  return { flags, values, rest };
}

const ok = { status: 0 };
const failed = { status: 1 };

function where(tree: ImageTree, path: string, follow = true): string | undefined {
  try {
    return tree.resolve(path, follow);
  } catch {
    return undefined;
  }
}

function mkdirs(tree: ImageTree, path: string, mode: number, parents: boolean): boolean {
  const target = where(tree, path);
  if (target === undefined) return false;
  const existing = tree.at(target);
  if (existing) return existing.type === "dir" && parents;
  try {
    if (parents) tree.writeParents(target);
    tree.write(target, { type: "dir", mode, uid: 0, gid: 0 });
    return true;
  } catch {
    return false;
  }
}

const mkdir: FileCommand = (ctx, args) => {
  const { flags, values, rest } = options(args, "m");
  const mode = values.has("m") ? parseMode(values.get("m")!, 0o755) : 0o755;
  if (mode === undefined || rest.length === 0) return failed; // an invalid mode, or a missing operand
  let status = 0;
  for (const dir of rest) if (!mkdirs(ctx.tree, dir, mode, flags.has("p"))) status = 1;
  return { status };
};

const ln: FileCommand = (ctx, args) => {
  const { flags, rest } = options(args);
  if (!flags.has("s")) {
    ctx.skip("hard links between files of the image are not made");
    return ok;
  }
  if (rest.length !== 2) return failed;
  const [target, linkArg] = rest;
  let link = where(ctx.tree, linkArg, false);
  if (link === undefined) return failed;
  const existing = ctx.tree.at(link);
  const intoDir = existing && !flags.has("T") && !(flags.has("n") && existing.type === "symlink");
  if (intoDir && ctx.tree.lookup(`/${link}`)?.type === "dir") {
    link = where(ctx.tree, `/${link}/${baseName(target)}`, false);
    if (link === undefined) return failed;
  }
  if (ctx.tree.at(link)) {
    if (!flags.has("f")) return failed;
    if (ctx.tree.shipped(link)) {
      ctx.skip(`/${link} is shipped by a package and stays as packaged`);
      return ok;
    }
  }
  return write(ctx.tree, link, { type: "symlink", mode: 0o777, uid: 0, gid: 0, link: target });
};

function write(tree: ImageTree, path: string, node: TreeNode): { status: number } {
  try {
    tree.write(path, node);
    return ok;
  } catch {
    return failed;
  }
}

/** cp and install of one file: the body must be known (recorded when the package's layer was built). */
function copyFile(ctx: FileContext, from: string, to: string, mode?: number): { status: number } {
  const fromPath = where(ctx.tree, from);
  const source = fromPath === undefined ? undefined : ctx.tree.at(fromPath);
  if (fromPath === undefined || source?.type !== "file") return failed;
  const body = ctx.tree.contents(fromPath);
  if (body === undefined) {
    ctx.skip(`the contents of ${from} were not recorded when its layer was built`);
    return ok;
  }
  let dest = where(ctx.tree, to);
  if (dest === undefined) return failed;
  if (ctx.tree.at(dest)?.type === "dir") dest = dest === "" ? baseName(from) : `${dest}/${baseName(from)}`;
  if (ctx.tree.shipped(dest)) {
    ctx.skip(`/${dest} is shipped by a package and stays as packaged`);
    return ok;
  }
  return write(ctx.tree, dest, { ...source, body, mode: mode ?? source.mode, owner: undefined });
}

const cp: FileCommand = (ctx, args) => {
  const { flags, rest } = options(args);
  if (flags.has("r") || flags.has("R") || flags.has("a")) {
    if (rest.some((p) => ctx.tree.lookup(p)?.type === "dir")) {
      ctx.skip("copying directory trees is not done");
      return ok;
    }
  }
  if (rest.length !== 2) return failed;
  return copyFile(ctx, rest[0], rest[1]);
};

const install: FileCommand = (ctx, args) => {
  const { flags, values, rest } = options(args, "mogt");
  const mode = values.has("m") ? parseMode(values.get("m")!, 0o755) : 0o755;
  if (mode === undefined) return failed;
  if (flags.has("d")) {
    const made = rest.every((dir) => mkdirs(ctx.tree, dir, mode, true));
    if (made) chown(ctx, [`${values.get("o") ?? "root"}:${values.get("g") ?? "root"}`, ...rest], "");
    return { status: made ? 0 : 1 };
  }
  if (rest.length !== 2) return failed;
  return copyFile(ctx, rest[0], rest[1], mode);
};

const mv: FileCommand = (ctx, args) => {
  const { rest } = options(args);
  if (rest.length !== 2) return failed;
  const from = where(ctx.tree, rest[0], false);
  if (from === undefined || !ctx.tree.at(from)) return failed;
  if (ctx.tree.shipped(from)) {
    ctx.skip(`/${from} is shipped by a package and stays where it is packaged`);
    return ok;
  }
  const node = ctx.tree.at(from)!;
  let to = where(ctx.tree, rest[1], false);
  if (to !== undefined && ctx.tree.lookup(`/${to}`)?.type === "dir") to = `${to}/${baseName(from)}`;
  if (to === undefined || node.type === "dir") return failed;
  if (ctx.tree.shipped(to)) {
    ctx.skip(`/${to} is shipped by a package and stays as packaged`);
    ctx.tree.remove(from); // it moved away all the same
    return ok;
  }
  const status = write(ctx.tree, to, node);
  if (status.status === 0) ctx.tree.remove(from);
  return status;
};

const rm: FileCommand = (ctx, args) => {
  const { flags, rest } = options(args);
  let status = 0;
  for (const arg of rest) {
    const path = where(ctx.tree, arg, false);
    const node = path === undefined ? undefined : ctx.tree.at(path);
    if (path === undefined || !node) {
      if (!flags.has("f")) status = 1;
    } else if (
      path === "" ||
      ctx.tree.shipped(path) ||
      ctx.tree.list(path).some((c) => ctx.tree.shipped(`${path}/${c}`))
    ) {
      ctx.skip(`/${path} is shipped by a package and stays as packaged`);
    } else if (node.type === "dir" && !flags.has("r") && !flags.has("R")) status = 1;
    else ctx.tree.remove(path);
  }
  return { status };
};

const rmdir: FileCommand = (ctx, args) => {
  const { rest } = options(args);
  let status = 0;
  for (const arg of rest) {
    const path = where(ctx.tree, arg, false);
    const node = path === undefined ? undefined : ctx.tree.at(path);
    if (path === undefined || node?.type !== "dir" || ctx.tree.list(path).length > 0) status = 1;
    else if (!ctx.tree.shipped(path)) ctx.tree.remove(path);
    else if (!ctx.tree.removeShippedDirectory(path))
      ctx.skip(`/${path} is shipped by a package and stays as packaged`);
  }
  return { status };
};

const touch: FileCommand = (ctx, args) => {
  const { rest } = options(args);
  let status = 0;
  for (const arg of rest) {
    const path = where(ctx.tree, arg);
    if (path === undefined) status = 1;
    else if (!ctx.tree.at(path))
      status |= write(ctx.tree, path, { type: "file", mode: 0o644, uid: 0, gid: 0 }).status;
  }
  return { status };
};

/** ucf's options that take a value as the next argument. */
const UCF_VALUED = new Set(["--src-dir", "--sum-file", "--debconf-template", "--state-dir", "--package"]);

/**
 * `ucf NEW_FILE DESTINATION`, as on a fresh install: a destination that does not exist yet is a copy
 * of the new file, mode and owner kept (`cp -p`); one that exists stays as it is (ucf would ask, and
 * keeps it when nobody answers). `--purge` and `--no-action` change no file, and neither does
 * `ucfr`, which only registers the file with its package.
 */
const ucf: FileCommand = (ctx, args) => {
  const rest: string[] = [];
  let changesNothing = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-p" || a === "--purge" || a === "-n" || a === "--no-action") changesNothing = true;
    else if (UCF_VALUED.has(a)) i++;
    else if (!a.startsWith("-")) rest.push(a);
  }
  if (changesNothing) return ok;
  if (rest.length !== 2) return failed;
  const dest = where(ctx.tree, rest[1]);
  if (dest !== undefined && ctx.tree.at(dest)) return ok;
  return copyFile(ctx, rest[0], rest[1]);
};

/**
 * mktemp [-d] [-p DIR | --tmpdir=DIR] [-t] [TEMPLATE]: a new file (0600) or directory (0700) whose
 * name is the template with its X's replaced by the first free number, so the same scripts make the
 * same names in every build (the name is the script's own business; what it does with it is kept).
 */
const mktemp: FileCommand = (ctx, args) => {
  const { flags, values, rest } = options(args, "p");
  const template = rest[0] ?? "tmp.XXXXXXXXXX";
  const xs = /X{3,}$/.exec(template)?.[0].length;
  if (xs === undefined) return failed;
  const inTmp = rest[0] === undefined || flags.has("t");
  const dir = values.get("p") ?? values.get("t") ?? (inTmp ? "/tmp" : undefined);
  const stem = `${dir === undefined ? "" : `${dir}/`}${template.slice(0, template.length - xs)}`;
  for (let n = 0; n < 1000; n++) {
    const name = `${stem}${String(n).padStart(xs, "0")}`;
    const path = where(ctx.tree, name, false);
    if (path === undefined || ctx.tree.at(path)) continue;
    const node: TreeNode = flags.has("d")
      ? { type: "dir", mode: 0o700, uid: 0, gid: 0 }
      : { type: "file", mode: 0o600, uid: 0, gid: 0 };
    if (write(ctx.tree, path, node).status !== 0) return failed;
    return { status: 0, stdout: `/${path}\n` };
  }
  return failed;
};

/**
 * Applies a change of mode or owner, unless the path is a shipped file whose bytes strata does not
 * have (the files layer must carry a changed file whole). Asking for its contents marks it read, so
 * the package's own files that its scripts chmod (sudo's /etc/sudoers 0440) are recorded with its
 * layer and the change is made.
 */
function change(ctx: FileContext, arg: string, apply: (node: TreeNode) => boolean): number {
  const path = where(ctx.tree, arg);
  const node = path === undefined ? undefined : ctx.tree.at(path);
  if (path === undefined || !node) return 1;
  if (node.type === "file" && ctx.tree.shipped(path)) ctx.tree.contents(path);
  if (ctx.tree.shipped(path) && node.type === "file" && node.body === undefined) {
    ctx.skip(`/${path} is a file shipped by a package and keeps its packaged mode and owner`);
    return 0;
  }
  if (!apply(node)) return 1;
  ctx.tree.touch(path);
  return 0;
}

const chmod: FileCommand = (ctx, args) => {
  const [spec, ...paths] = args.filter((a) => !/^-[Rvcf]+$/.test(a));
  if (paths.length === 0) return failed;
  let status = 0;
  for (const p of paths) {
    status |= change(ctx, p, (node) => {
      const mode = parseMode(spec ?? "", node.mode);
      if (mode !== undefined) node.mode = mode;
      return mode !== undefined;
    });
  }
  return { status };
};

function chown(ctx: FileContext, args: string[], groupOnly: "" | "group"): { status: number } {
  const [spec, ...paths] = args.filter((a) => !a.startsWith("-"));
  if (paths.length === 0) return failed;
  const [user, group] = groupOnly ? ["", spec ?? ""] : (spec ?? "").split(/[:.]/);
  const uid = user ? ctx.id(user, "user") : undefined;
  const gid = group ? ctx.id(group, "group") : undefined;
  const unknown =
    user && uid === undefined ? `user ${user}` : group && gid === undefined ? `group ${group}` : "";
  if (unknown) {
    ctx.skip(`${unknown} is not among the image's accounts (add it under accounts: in the spec)`);
    return ok;
  }
  let status = 0;
  for (const p of paths) {
    status |= change(ctx, p, (node) => {
      if (uid !== undefined) node.uid = uid;
      if (gid !== undefined) node.gid = gid;
      return true;
    });
  }
  return { status };
}

const cat: FileCommand = (ctx, args, stdin) => {
  const { rest } = options(args);
  if (rest.length === 0) return { status: 0, stdout: stdin };
  let stdout = "";
  for (const p of rest) {
    if (p === "/dev/null") continue; // `cat /dev/null > FILE` empties FILE (mariadb's debian.cnf)
    const node = ctx.tree.lookup(p);
    if (node?.type !== "file") return { status: 1, stdout };
    const body = ctx.tree.contents(p);
    if (node.unknown) ctx.skip(`the contents of ${p} come from commands strata does not follow`);
    else if (body === undefined) ctx.skip(`the contents of ${p} were not recorded when its layer was built`);
    else stdout += body.toString("utf8");
  }
  return { status: 0, stdout };
};

/** stat -c FORMAT (%a %u %g %U %G %n %F %s), the forms scripts use to copy a mode or owner. */
const stat: FileCommand = (ctx, args) => {
  const { flags, values, rest } = options(args, "c");
  const format = values.get("c");
  if (format === undefined) {
    ctx.skip("stat without -c is not followed");
    return ok;
  }
  let stdout = "";
  for (const p of rest) {
    const node = ctx.tree.lookup(p, flags.has("L"));
    if (!node) return { status: 1, stdout };
    const kinds = { file: "regular file", dir: "directory", symlink: "symbolic link" };
    const fields: Record<string, string> = {
      a: node.mode.toString(8),
      u: String(node.uid),
      g: String(node.gid),
      U: ctx.name(node.uid, "user") ?? "UNKNOWN",
      G: ctx.name(node.gid, "group") ?? "UNKNOWN",
      n: p,
      F: kinds[node.type],
      s: String(node.body?.length ?? 0),
    };
    stdout += `${format.replace(/%([augUGnFs%])/g, (_m, c: string) => (c === "%" ? "%" : fields[c]))}\n`;
  }
  return { status: 0, stdout };
};

export const FILE_COMMANDS: Record<string, FileCommand> = {
  stat,
  mktemp,
  ucf,
  ucfr: () => ok,
  mkdir,
  ln,
  cp,
  install,
  mv,
  rm,
  rmdir,
  touch,
  chmod,
  chown: (ctx, args) => chown(ctx, args, ""),
  chgrp: (ctx, args) => chown(ctx, args, "group"),
  cat,
};

/** An octal mode, or a symbolic one ([ugoa]*[+-=][rwxXst]*, comma separated) applied to `current`. */
export function parseMode(spec: string, current: number): number | undefined {
  // Leading zeros are allowed beyond four digits (chmod 04755, dpkg-statoverride's 01733).
  if (/^0*[0-7]{1,4}$/.test(spec)) return Number.parseInt(spec, 8);
  let mode = current;
  for (const clause of spec.split(",")) {
    const m = /^([ugoa]*)([-+=])([rwxXst]*)$/.exec(clause);
    if (!m) return undefined;
    const who = m[1] === "" || m[1].includes("a") ? "ugo" : m[1];
    let bits = 0;
    for (const w of who) {
      const shift = { u: 6, g: 3, o: 0 }[w as "u" | "g" | "o"];
      for (const p of m[3]) {
        if (p === "r") bits |= 4 << shift;
        if (p === "w") bits |= 2 << shift;
        if (p === "x" || (p === "X" && (current & 0o111) !== 0)) bits |= 1 << shift;
        if (p === "s") bits |= w === "u" ? 0o4000 : w === "g" ? 0o2000 : 0;
        if (p === "t") bits |= 0o1000;
      }
    }
    if (m[2] === "+") mode |= bits;
    else if (m[2] === "-") mode &= ~bits;
    else {
      const mask = [...who].reduce((acc, w) => acc | (0o7 << { u: 6, g: 3, o: 0 }[w as "u" | "g" | "o"]), 0);
      mode = (mode & ~mask) | bits;
    }
  }
  return mode;
}
