import type { MaintainerHost } from "../maintscripts.js";
import { compareVersions } from "../version.js";
import { FILE_COMMANDS } from "./files.js";
import { parseScript, ShellSyntaxError } from "./parse.js";
import type { CommandResult, Output, Shell } from "./run.js";
import { ShellExit } from "./run.js";
import { testCommand } from "./test-command.js";
import { baseName, parentOf } from "./tree.js";

/**
 * The commands of maintainer scripts other than file commands: text tools, lookups (which, getent,
 * dpkg --compare-versions...), the ones with an effect on the image (update-alternatives, accounts,
 * dpkg-divert, add-shell), and the ones strata deliberately does not follow, each with its reason.
 */
const SERVICES = "services are not started in images";
const BYTE_CODE = "byte-code is not compiled in the image (Python compiles it at first import)";
const DEBCONF = "debconf tools are not run: questions take their config scripts' answers or their defaults";
const TRIGGERS = "triggers are not run (their effects that images need are made natively)";
const DPKG_DB = "an image has no dpkg database to query";
const UNKNOWN = "not a command strata follows";

const SKIPPED: Record<string, string> = {
  "invoke-rc.d": SERVICES,
  "update-rc.d": SERVICES,
  "deb-systemd-helper": SERVICES,
  "deb-systemd-invoke": SERVICES,
  systemctl: SERVICES,
  service: SERVICES,
  "start-stop-daemon": SERVICES,
  py3compile: BYTE_CODE,
  pycompile: BYTE_CODE,
  py3clean: BYTE_CODE,
  pyclean: BYTE_CODE,
  "dpkg-trigger": TRIGGERS,
  "dpkg-query": DPKG_DB,
  "update-ca-certificates": "the CA bundle is made natively",
  ldconfig: "the dynamic linker's cache is not built (libraries are found in the default paths)",
  "update-binfmts": "binfmt registrations do not matter in a container",
  "update-mime-database": "shared caches are not rebuilt",
  "update-icon-caches": "shared caches are not rebuilt",
  "gtk-update-icon-cache": "shared caches are not rebuilt",
  "glib-compile-schemas": "shared caches are not rebuilt",
  "update-initramfs": "an image boots no kernel",
  "deb-triggers": TRIGGERS,
};

/**
 * The reasons strata leaves a command out on purpose (services, byte-code, triggers, caches, the
 * dpkg database, debconf's tools): what `build --strict` accepts. Every other skip is a gap.
 */
export const DELIBERATE_SKIPS: ReadonlySet<string> = new Set([...Object.values(SKIPPED), DEBCONF, DPKG_DB]);

type Handler = (host: MaintainerHost, args: string[], stdin: string, shell: Shell) => CommandResult;

/** Commands whose only result is what they print and their status: run even on unknown arguments. */
const SHOWS_ONLY = new Set([
  ...["true", ":", "false", "[", "test", "echo", "printf", "basename", "dirname", "mountpoint"],
  ...["which", "type", "getent", "id", "umask", "cat", "stat", "dpkg", "dpkg-realpath"],
]);

/**
 * Whether a command only prints and answers (so it may run with arguments strata cannot know, its
 * output then unknown): `command -v` does, `command rm` does not.
 */
export function showsOnly(argv: string[]): boolean {
  if (argv[0] === "command") return argv[1] === "-v" || argv[1] === "-V";
  return SHOWS_ONLY.has(argv[0]);
}

const ok = { status: 0 };

const COMMANDS: Record<string, Handler> = {
  true: () => ok,
  ":": () => ok,
  // Noninteractive debconf: a question has what a config script set, else its template's default.
  db_get: (host, args, _stdin, shell) => {
    shell.vars.set("RET", host.debconfAnswer(args[0] ?? ""));
    return ok;
  },
  db_set: (host, args) => {
    host.debconf.set(args[0] ?? "", args.slice(1).join(" "));
    return ok;
  },
  // No question was ever shown: every flag (seen, ...) is false.
  db_fget: (_h, _args, _stdin, shell) => {
    shell.vars.set("RET", "false");
    return ok;
  },
  false: () => ({ status: 1 }),
  "[": (host, args) => ({ status: testCommand(host.tree, "", ["[", ...args], host.user) }),
  test: (host, args) => ({ status: testCommand(host.tree, "", ["test", ...args], host.user) }),
  su: (host, args, stdin, shell) => su(host, args, stdin, shell),
  getopts: (_h, args, _stdin, shell) => getopts(shell, args),
  // Modes of what scripts make are set explicitly by the commands followed; the mask changes none.
  umask: () => ok,
  echo: (_h, args) => echo(args),
  printf: (_h, args) => ({ status: 0, stdout: printf(args) }),
  basename: (_h, args) => ({
    status: 0,
    stdout: `${stripSuffix(baseName(args[0]?.replace(/\/+$/, "") ?? ""), args[1])}\n`,
  }),
  dirname: (_h, args) => ({ status: 0, stdout: `${dirName(args[0] ?? "")}\n` }),
  mountpoint: (_h, args) => ({ status: args.includes("/proc") ? 0 : 1 }), // a container has /proc at run time
  which: (host, args, _stdin, shell) =>
    which(
      host,
      args.filter((a) => !a.startsWith("-")),
      shell,
    ),
  command: (host, args, stdin, shell) =>
    args[0] === "-v" || args[0] === "-V" ? which(host, args.slice(1), shell) : host.run(args, stdin, shell),
  type: (host, args, _stdin, shell) => which(host, args, shell),
  getent: (host, args) => host.accounts.getent(args),
  id: (host, args) => host.accounts.idCommand(args),
  adduser: (host, args) => ({ status: host.accounts.adduser(host, "adduser", args) }),
  addgroup: (host, args) => ({ status: host.accounts.adduser(host, "addgroup", args) }),
  useradd: (host, args) => ({ status: host.accounts.useradd(host, "useradd", args) }),
  groupadd: (host, args) => ({ status: host.accounts.useradd(host, "groupadd", args) }),
  "update-alternatives": (host, args) => host.alternatives.run(host, args),
  dpkg: (host, args) => dpkg(host, args),
  "dpkg-realpath": (host, args, _stdin, shell) => realpath(host, args, shell),
  "dpkg-statoverride": (host, args) => statoverride(host, args),
  "dpkg-maintscript-helper": () => ok, // it acts on upgrades and removals only, never on a fresh install
  "dpkg-divert": (host, args) => divert(host, args),
  "add-shell": (host, args) => shells(host, args, true),
  "remove-shell": (host, args) => shells(host, args, false),
  ".": (host, args, stdin, shell) => source(host, args[0] ?? "", stdin, shell),
  source: (host, args, stdin, shell) => source(host, args[0] ?? "", stdin, shell),
  eval: (_h, args, stdin, shell) => runText(args.join(" "), stdin, shell),
};

export function systemCommand(
  host: MaintainerHost,
  argv: string[],
  stdin: string,
  shell: Shell,
): CommandResult {
  const [name, ...args] = argv;
  const handler = COMMANDS[name];
  if (handler) return handler(host, args, stdin, shell);
  const tool = baseName(name);
  // The rest of the debconf protocol (db_input, db_go, db_fset, ...) asks or records nothing an
  // image keeps: questions are answered by config scripts and defaults (db_get, db_set above).
  if (tool.startsWith("db_")) return ok;
  const fromImage = SKIPPED[tool] === undefined ? imageScript(host, name, args, stdin, shell) : undefined;
  if (fromImage !== undefined) return fromImage;
  const reason =
    SKIPPED[tool] ??
    (tool.startsWith("debconf") ? DEBCONF : undefined) ??
    (/^python3(\.\d+)?$/.test(tool) && args.some((a) => a.includes("py_compile")) ? BYTE_CODE : undefined) ??
    (name.includes("/") ? `running ${name} from the image is not done` : UNKNOWN);
  host.skip(reason);
  // A service asked for its status is not running: that is the truth in an image being built.
  const status = reason === SERVICES && args.some((a) => a === "status" || a === "is-active") ? 3 : 0;
  return { status };
}

/**
 * `dpkg-statoverride --add [--update] USER GROUP MODE PATH`: with --update the owner and mode are
 * set now, as dpkg does (redis's 0640 redis.conf, ssl-cert's 0710 /etc/ssl/private); without it
 * dpkg would apply them only to a later unpack, which an image never has. `--list PATH` answers
 * whether this install added one; `--remove` forgets it.
 */
function statoverride(host: MaintainerHost, args: string[]): CommandResult {
  const words = args.filter(
    (a) => !a.startsWith("--") || a === "--add" || a === "--list" || a === "--remove",
  );
  const [action, ...rest] = words;
  if (action === "--list")
    return { status: rest.every((p) => host.statOverrides.has(p)) && rest.length > 0 ? 0 : 1 };
  if (action === "--remove") {
    for (const path of rest) host.statOverrides.delete(path);
    return ok;
  }
  if (action !== "--add" || rest.length !== 4) {
    host.skip(DPKG_DB);
    return ok;
  }
  const [user, group, mode, path] = rest;
  host.statOverrides.add(path);
  if (!args.includes("--update")) return ok;
  const files = host.fileContext();
  const owned = FILE_COMMANDS.chown(files, [`${user}:${group}`, path], "");
  const moded = FILE_COMMANDS.chmod(files, [mode, path], "");
  return { status: owned.status | moded.status };
}

/** Where getopts is inside a group of flags (-qv): sh keeps it out of sight; here, a variable. */
const OPTPOS = "__strata_getopts_position";

/**
 * `getopts OPTSTRING NAME [ARG...]` as POSIX says: the next option of ARGs (else of the positional
 * parameters) from $OPTIND, its letter in NAME ("?" for one not in OPTSTRING), its value in OPTARG
 * when the letter is followed by ":"; status 1 at the first operand, or after "--".
 */
function getopts(shell: Shell, args: string[]): CommandResult {
  const [spec, name, ...given] = args;
  if (spec === undefined || name === undefined) return { status: 2 };
  const argv = given.length > 0 ? given : shell.positional;
  const index = Number(shell.vars.get("OPTIND") ?? "1");
  let optind = Number.isInteger(index) && index > 0 ? index : 1;
  let pos = Number(shell.vars.get(OPTPOS) ?? "1") || 1;
  const arg = argv[optind - 1];
  const done = (status: number, letter: string) => {
    shell.vars.set("OPTIND", String(optind));
    shell.vars.set(OPTPOS, String(pos));
    shell.vars.set(name, letter);
    return { status };
  };
  if (arg === undefined || arg === "-" || !arg.startsWith("-")) return done(1, "?");
  if (arg === "--") {
    optind++;
    return done(1, "?");
  }
  const letter = arg[pos] ?? "";
  const at = letter === ":" ? -1 : spec.indexOf(letter);
  const next = () => {
    optind++;
    pos = 1;
  };
  if (at >= 0 && spec[at + 1] === ":") {
    const rest = arg.slice(pos + 1);
    const unknown = given.length > 0 ? undefined : shell.positionalUnknown;
    shell.vars.assign("OPTARG", rest !== "" ? rest : (argv[optind] ?? ""), unknown);
    if (rest === "") optind++;
    next();
    return done(0, letter);
  }
  if (++pos >= arg.length) next();
  return done(0, at >= 0 ? letter : "?");
}

const PATH_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];
/** Interpreters whose scripts are followed: the POSIX shells (bash ones too, as far as they are POSIX). */
const SHELL_SCRIPT = /^#! ?((\/usr)?\/bin\/(sh|dash|bash)|\/usr\/bin\/env (sh|bash))(\s|$)/;

/**
 * A command that is a shell script of the image (phpenmod, a package's own helper): followed as its
 * own process, with its arguments. Undefined when the image has no such executable, or it is not a
 * shell script (a Perl helper such as a2enmod: then the command is reported as not followed).
 */
function imageScript(
  host: MaintainerHost,
  name: string,
  args: string[],
  stdin: string,
  shell: Shell,
): CommandResult | undefined {
  const candidates = name.includes("/") ? [name] : PATH_DIRS.map((d) => `${d}/${name}`);
  const path = candidates.find((p) => {
    const node = host.tree.lookup(p);
    return node?.type === "file" && (node.mode & 0o111) !== 0;
  });
  if (path === undefined) return undefined;
  const text = host.read(path);
  if (text === undefined || !SHELL_SCRIPT.test(text)) return undefined;
  let script: ReturnType<typeof parseScript>;
  try {
    script = parseScript(text);
  } catch (err) {
    if (!(err instanceof ShellSyntaxError)) throw err;
    host.skip(`${path} is not followed: ${err.message} at line ${err.line}`);
    return ok;
  }
  const out: Output = [];
  const status = shell.script(script, args, stdin, out);
  return { status, stdout: out.join(""), unknown: out.unknown };
}

function echo(args: string[]): CommandResult {
  let newline = true;
  if (args[0] === "-n") {
    newline = false;
    args = args.slice(1);
  } else if (args[0] === "-e" || args[0] === "-en") args = args.slice(1);
  return { status: 0, stdout: backslashEscapes(args.join(" ")) + (newline ? "\n" : "") };
}

function backslashEscapes(text: string): string {
  return text.replace(/\\([ntr\\]|0[0-7]{0,3})/g, (_m, c: string) =>
    c === "n"
      ? "\n"
      : c === "t"
        ? "\t"
        : c === "r"
          ? "\r"
          : c === "\\"
            ? "\\"
            : String.fromCharCode(Number.parseInt(c, 8)),
  );
}

/** printf FORMAT ARGS: %s %d %b %%, reused until the arguments are used up. */
function printf(args: string[]): string {
  const [format = "", ...rest] = args;
  let out = "";
  let i = 0;
  do {
    out += backslashEscapes(format).replace(/%([-0-9]*)([sdbcx%])/g, (_m, _w, c: string) => {
      if (c === "%") return "%";
      const arg = rest[i++] ?? "";
      if (c === "d") return String(Number.parseInt(arg, 10) || 0);
      if (c === "b") return backslashEscapes(arg);
      return arg;
    });
  } while (i < rest.length && /%[-0-9]*[sdbcx]/.test(format));
  return out;
}

function stripSuffix(name: string, suffix: string | undefined): string {
  return suffix && name.endsWith(suffix) && name !== suffix ? name.slice(0, -suffix.length) : name;
}

function dirName(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  if (!trimmed.includes("/")) return path.startsWith("/") ? "/" : ".";
  return parentOf(trimmed) || "/";
}

/** which / command -v: the first executable of that name on the script's PATH, in the image. */
function which(host: MaintainerHost, names: string[], shell: Shell): CommandResult {
  let stdout = "";
  let status = 0;
  for (const name of names) {
    if (COMMANDS[name] && !["which", "command"].includes(name)) {
      stdout += `${name}\n`;
      continue;
    }
    const dirs = name.includes("/") ? [""] : (shell.vars.get("PATH") ?? "").split(":");
    const found = dirs
      .map((d) => (d === "" ? name : `${d}/${name}`))
      .find((p) => {
        const node = host.tree.lookup(p);
        return node?.type === "file" && (node.mode & 0o111) !== 0;
      });
    if (found) stdout += `${found}\n`;
    else status = 1;
  }
  return { status, stdout };
}

function dpkg(host: MaintainerHost, args: string[]): CommandResult {
  if (args[0] === "--print-architecture") return { status: 0, stdout: `${host.architecture}\n` };
  if (args[0] === "--compare-versions" && args.length === 4)
    return { status: compare(args[1], args[2], args[3]) ? 0 : 1 };
  host.skip(DPKG_DB);
  return ok;
}

/**
 * `dpkg-realpath [-z] [--root DIR] PATH`: the path with every link resolved in the image (debianutils'
 * update-shells lists /usr/bin/sh beside /bin/sh with it). A root other than the image's is not
 * one strata has.
 */
function realpath(host: MaintainerHost, args: string[], shell: Shell): CommandResult {
  let root = shell.vars.get("DPKG_ROOT") ?? "";
  const paths: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--root" || args[i] === "--instdir") root = args[++i] ?? "";
    else if (/^--(root|instdir)=/.test(args[i])) root = args[i].slice(args[i].indexOf("=") + 1);
    else if (!args[i].startsWith("-")) paths.push(args[i]);
  }
  if (root.replace(/\/+$/, "") !== "" || paths.length !== 1) {
    host.skip(`dpkg-realpath is followed for the image's root only, with one path`);
    return ok;
  }
  const end = args.includes("-z") || args.includes("--zero") ? "\0" : "\n";
  return { status: 0, stdout: `/${host.tree.resolve(paths[0])}${end}` };
}

/** dpkg --compare-versions: an empty version is the oldest, except for the -nl operators. */
function compare(a: string, op: string, b: string): boolean {
  const nl = op.endsWith("-nl");
  const base = nl ? op.slice(0, -3) : op;
  const empty = (v: string) => v.trim() === "";
  let c: number;
  if (empty(a) || empty(b)) c = empty(a) && empty(b) ? 0 : (empty(a) ? -1 : 1) * (nl ? -1 : 1);
  else c = compareVersions(a, b);
  const table: Record<string, boolean> = {
    lt: c < 0,
    "<<": c < 0,
    "<": c <= 0,
    le: c <= 0,
    "<=": c <= 0,
    eq: c === 0,
    "=": c === 0,
    ne: c !== 0,
    ge: c >= 0,
    ">=": c >= 0,
    ">": c >= 0,
    gt: c > 0,
    ">>": c > 0,
  };
  return table[base] ?? false;
}

/** dpkg-divert: a diversion only changes where later unpacks go; with --rename it moves a file. */
function divert(host: MaintainerHost, args: string[]): CommandResult {
  const valued = new Set(["--divert", "--package", "--admindir", "--instdir", "--root"]);
  const file = args.filter((a, i) => !a.startsWith("-") && !valued.has(args[i - 1] ?? "")).at(-1);
  if (args.includes("--list") || args.includes("--listpackage")) return ok; // nothing is diverted
  if (args.includes("--truename")) return { status: 0, stdout: `${file ?? ""}\n` };
  if (!file) return { status: 2 };
  const to = args.includes("--divert") ? args[args.indexOf("--divert") + 1] : `${file}.distrib`;
  if (args.includes("--add") && args.includes("--rename") && host.tree.lookup(file, false)) {
    return FILE_COMMANDS.mv(host.fileContext(), [file, to], "");
  }
  return ok;
}

/** add-shell / remove-shell: /etc/shells, made when missing. */
function shells(host: MaintainerHost, args: string[], add: boolean): CommandResult {
  const path = "etc/shells";
  const node = host.tree.at(path);
  const body = node ? host.tree.contents(path) : Buffer.from("# /etc/shells: valid login shells\n");
  if (body === undefined) {
    host.skip("the contents of /etc/shells were not recorded when its layer was built");
    return ok;
  }
  let lines = body
    .toString("utf8")
    .split("\n")
    .filter((l) => l !== "");
  for (const shell of args) {
    if (add && !lines.includes(shell)) lines.push(shell);
    if (!add) lines = lines.filter((l) => l !== shell);
  }
  host.write("/etc/shells", lines.map((l) => `${l}\n`).join(""), false, true);
  return ok;
}

/**
 * `su [-s SHELL] [-] USER -c COMMAND`: the command runs in the script's shell as USER, so what it
 * tests (`test -O DIR`, as postgresql-common asks whether postgres owns its home) is answered for
 * that user. Without -c it would start an interactive shell: skipped. An unknown user fails, as su.
 */
function su(host: MaintainerHost, args: string[], stdin: string, shell: Shell): CommandResult {
  let name: string | undefined;
  let command: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-c" || a === "--command") command = args[++i];
    else if (a === "-s" || a === "--shell") i++;
    else if (a.startsWith("-"))
      continue; // -, -l, -m, -p, --shell=...
    else name ??= a;
  }
  if (command === undefined) {
    host.skip("su without -c starts an interactive shell");
    return ok;
  }
  const user = host.accounts.user(name ?? "root");
  if (user === undefined) return { status: 1 };
  const saved = host.user;
  host.user = { uid: user.uid, gid: user.gid };
  try {
    return runText(command, stdin, shell);
  } finally {
    host.user = saved;
  }
}

/** `. FILE`: the file's text run in the script's own shell. */
function source(host: MaintainerHost, file: string, stdin: string, shell: Shell): CommandResult {
  if (file === "/usr/share/debconf/confmodule") return ok; // its protocol is db_get/db_set above
  const body = host.tree.contents(file);
  if (body === undefined) {
    if (!host.tree.lookup(file)) throw new ShellExit(2); // dash: a missing file ends the script
    host.skip(`the contents of ${file} were not recorded when its layer was built`);
    return ok;
  }
  return runText(body.toString("utf8"), stdin, shell);
}

function runText(text: string, stdin: string, shell: Shell): CommandResult {
  const out: Output = [];
  const status = shell.nested(parseScript(text), stdin, out);
  return { status, stdout: out.join(""), unknown: out.unknown };
}
