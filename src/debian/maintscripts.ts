import type { Accounts } from "./accounts.js";
import { ScriptAccounts } from "./shell/accounts.js";
import { Alternatives } from "./shell/alternatives.js";
import { FILE_COMMANDS } from "./shell/files.js";
import { globTree } from "./shell/glob.js";
import { parseScript, ShellSyntaxError } from "./shell/parse.js";
import type { PatternPiece } from "./shell/pattern.js";
import { type CommandHost, type CommandResult, Shell } from "./shell/run.js";
import { showsOnly, systemCommand } from "./shell/system.js";
import { type ImageTree, TreeError } from "./shell/tree.js";

/**
 * Follows maintainer scripts instead of running them: each preinst (`install`) and postinst
 * (`configure ""`, a fresh install) is interpreted over the image's tree, with the commands they
 * call done natively (files, update-alternatives, accounts, diversions, shells) and everything
 * else reported as skipped, with what the script would have done and why it is not needed or not
 * possible. Nothing is ever executed on the host.
 */
export interface ScriptPackage {
  name: string;
  version: string;
  architecture: string;
  preinst?: string;
  postinst?: string;
  /** Its debconf config script (run by dpkg-preconfigure before any package is unpacked). */
  config?: string;
  /** Its debconf questions' defaults (src/debian/debconf.ts): what `db_get` answers. */
  debconf?: Record<string, string>;
}

export interface SkippedEffect {
  package: string;
  script: string;
  /** What the script would have done: the command, or "(the rest of the script)". */
  command: string;
  reason: string;
}

export interface ScriptRun {
  skipped: SkippedEffect[];
  /** Per package, what its scripts made natively: paths made or changed and accounts added. */
  made: Map<string, number>;
  notes: string[];
  accounts: ScriptAccounts;
}

export interface ScriptRunOptions {
  tree: ImageTree;
  /** The image's architecture (what `dpkg --print-architecture` says). */
  architecture: string;
  accounts: Accounts;
  /** Adds a package's paths to the tree: called after its preinst, as dpkg unpacks after it. */
  unpack?: (pkg: ScriptPackage) => void;
}

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** Scripts bigger than this are not followed (real ones are a few KiB). */
export const MAX_SCRIPT_BYTES = 256 * 1024;

/** Runs every preinst in order (each before its package is unpacked), then every postinst. */
export function followScripts(packages: ScriptPackage[], opts: ScriptRunOptions): ScriptRun {
  const host = new MaintainerHost(opts);
  // As dpkg-preconfigure does: every debconf config script first, so db_set answers are there.
  for (const pkg of packages) {
    if (pkg.config !== undefined) host.follow(pkg, "config", pkg.config, ["configure", ""]);
  }
  for (const pkg of packages) {
    if (pkg.preinst !== undefined) host.follow(pkg, "preinst", pkg.preinst, ["install"]);
    opts.unpack?.(pkg);
  }
  for (const pkg of packages) {
    if (pkg.postinst !== undefined) host.follow(pkg, "postinst", pkg.postinst, ["configure", ""]);
  }
  for (const path of opts.tree.restoreRetyped())
    host.notes.push(`/${path}: a script removed this packaged directory and put nothing there; it stays`);
  return { skipped: host.skipped, made: host.made, notes: host.notes, accounts: host.accounts };
}

export class MaintainerHost implements CommandHost {
  readonly skipped: SkippedEffect[] = [];
  readonly made = new Map<string, number>();
  readonly notes: string[] = [];
  readonly accounts: ScriptAccounts;
  readonly alternatives = new Alternatives();
  /** The debconf database of this install: what config scripts set with db_set. */
  readonly debconf = new Map<string, string>();
  readonly tree: ImageTree;
  readonly architecture: string;
  /** The paths `dpkg-statoverride --add` named in this install. */
  readonly statOverrides = new Set<string>();
  /** Times a command was skipped (repeats too): whether a command or redirection skipped one. */
  private skipCalls = 0;
  /** The first reason the command running now (not one it runs in turn) was skipped for. */
  private skippedHere: string | undefined;
  /** Whom `test -O` and `-G` ask about: root, or the user `su -c` runs a command as. */
  user = { uid: 0, gid: 0 };
  /** The package and script being followed, and the command being run. */
  current = {
    pkg: "",
    version: "",
    packageArch: "",
    script: "",
    command: "",
    debconf: {} as Record<string, string>,
  };

  constructor(opts: ScriptRunOptions) {
    this.tree = opts.tree;
    this.architecture = opts.architecture;
    this.accounts = new ScriptAccounts(opts.accounts);
  }

  /** What `db_get QUESTION` answers: a value a config script set, else the template's default. */
  debconfAnswer(question: string): string {
    const set = this.debconf.get(question);
    if (set !== undefined) return set;
    return Object.hasOwn(this.current.debconf, question) ? this.current.debconf[question] : "";
  }

  follow(pkg: ScriptPackage, script: string, text: string, args: string[]): void {
    this.current = {
      pkg: pkg.name,
      version: pkg.version,
      packageArch: pkg.architecture,
      script,
      command: "",
      debconf: pkg.debconf ?? {},
    };
    const rest = "(the rest of the script)";
    if (Buffer.byteLength(text) > MAX_SCRIPT_BYTES) {
      this.skipAs(rest, `not followed: bigger than ${MAX_SCRIPT_BYTES} bytes`);
      return;
    }
    const env = {
      PATH,
      HOME: "/root",
      DEBIAN_FRONTEND: "noninteractive",
      DPKG_ROOT: "",
      DPKG_MAINTSCRIPT_NAME: script,
      DPKG_MAINTSCRIPT_PACKAGE: pkg.name,
      DPKG_MAINTSCRIPT_ARCH: pkg.architecture,
      DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT: "1",
    };
    const madeBefore = this.madeCount();
    const skippedBefore = this.skipped.length;
    const shell = new Shell(this, script, args, env);
    try {
      const status = shell.main(parseScript(text));
      if (status !== 0)
        this.skipAs(rest, stopReason(status, shell.lastFailed, this.skipped.length > skippedBefore));
    } catch (err) {
      if (err instanceof ShellSyntaxError)
        this.skipAs(rest, `not followed: ${err.message} at line ${err.line}`);
      // Limits, tree errors (a loop of links) and arithmetic it cannot do end the script here.
      else if (err instanceof Error)
        this.skipAs(this.current.command || rest, `not followed past this point: ${err.message}`);
      else throw err;
    } finally {
      this.made.set(pkg.name, (this.made.get(pkg.name) ?? 0) + Math.max(0, this.madeCount() - madeBefore));
    }
  }

  /** Paths scripts made or changed so far, and accounts there are: what a script adds shows in both. */
  private madeCount(): number {
    return this.tree.changed.size + this.accounts.users.length + this.accounts.groups.length;
  }

  /** Records the current command as skipped. */
  skip(reason: string): void {
    this.skipAs(this.current.command, reason);
  }

  private skipAs(command: string, reason: string): void {
    this.skipCalls++;
    this.skippedHere ??= reason;
    const { pkg, script } = this.current;
    const seen = this.skipped.some(
      (s) => s.package === pkg && s.script === script && s.command === command && s.reason === reason,
    );
    if (!seen) this.skipped.push({ package: pkg, script, command, reason });
  }

  note(text: string): void {
    this.notes.push(`${this.current.pkg}: ${text}`);
  }

  /**
   * Runs a command. One whose arguments depend on a value strata cannot know is not done unless it
   * only prints (never destructive: `rm -rf $DIR/*` with DIR unknown could name anything); what a
   * command prints is unknown when it, or what it read, was skipped.
   */
  run(argv: string[], stdin: string, shell: Shell, unknown?: string): CommandResult {
    const [previous, outerSkip] = [this.current.command, this.skippedHere];
    this.current.command = commandText(argv);
    this.skippedHere = undefined;
    try {
      if (unknown !== undefined && !showsOnly(argv)) {
        this.skip(`not done: its arguments depend on ${unknown}`);
        return { status: 0, unknown };
      }
      const result = this.dispatch(argv, stdin, shell);
      const skipped = this.skippedHere;
      if (skipped === undefined || result.unknown !== undefined) return result;
      return { ...result, unknown: `the output of ${argv[0]} (${skipped})` };
    } catch (err) {
      // A path through a file or a loop of links fails the command, as it would on a real system.
      if (err instanceof TreeError) return { status: 1 };
      throw err;
    } finally {
      this.current.command = previous;
      this.skippedHere = outerSkip;
    }
  }

  private dispatch(argv: string[], stdin: string, shell: Shell): CommandResult {
    const file = FILE_COMMANDS[argv[0]];
    if (file) return file(this.fileContext(), argv.slice(1), stdin);
    return systemCommand(this, argv, stdin, shell);
  }

  fileContext() {
    return {
      tree: this.tree,
      skip: (r: string) => this.skip(r),
      id: (n: string, k: "user" | "group") => this.accounts.id(n, k),
      name: (id: number, k: "user" | "group") => this.accounts.name(id, k),
    };
  }

  read(path: string): string | undefined {
    const body = this.tree.contents(path);
    const node = body === undefined ? this.tree.lookup(path) : undefined;
    if (node?.unknown) this.skip(`the contents of ${path} come from commands strata does not follow`);
    else if (node) this.skip(`the contents of ${path} were not recorded when its layer was built`);
    return body?.toString("utf8");
  }

  write(path: string, text: string, append: boolean, complete: boolean): number {
    try {
      this.writeFile(path, text, append, complete);
      return 0;
    } catch (err) {
      // As sh: a redirection that cannot be opened fails its command (status 1), and nothing changes.
      if (err instanceof TreeError) return 1;
      throw err;
    }
  }

  private writeFile(path: string, text: string, append: boolean, complete: boolean): void {
    // `> ""` (a variable strata could not know, such as an unfollowed command's output) names no file.
    if (path === "") throw new TreeError("a redirection to an empty file name");
    const at = this.tree.resolve(path);
    if (at === "" || this.tree.at(at)?.type === "dir") throw new TreeError(`/${at} is a directory`);
    if (this.tree.shipped(at)) {
      this.skip(`/${at} is shipped by a package and stays as packaged`);
      return;
    }
    // As sh: writing to an existing file keeps its mode and owner.
    const existing = this.tree.at(at);
    const kept = { mode: existing?.mode ?? 0o644, uid: existing?.uid ?? 0, gid: existing?.gid ?? 0 };
    if (!complete || (append && existing?.unknown)) {
      // Half a file is worse than none: the file exists for the rest of the script, its contents unknown.
      this.tree.write(at, { type: "file", ...kept, unknown: true });
      this.skipAs(`> /${at}`, "not written: its contents come from commands strata does not follow");
      return;
    }
    const before = append ? (this.tree.contents(at) ?? Buffer.alloc(0)) : Buffer.alloc(0);
    const body = Buffer.concat([before, Buffer.from(text)]);
    this.tree.write(at, { type: "file", ...kept, body });
  }

  skips(): number {
    return this.skipCalls;
  }

  skipCommand(command: string, reason: string): void {
    this.skipAs(command, reason);
  }

  glob(pieces: PatternPiece[]): string[] {
    return globTree(this.tree, pieces);
  }
}

/** A command as a script would have run it, quoted where needed, for reports. */
/**
 * Why a script that ended with a failure was not followed to its end. A command strata skips
 * answers as a failure would, so under dpkg the script may well go on: that is said, with the
 * command it stopped at, rather than that the script fails.
 */
function stopReason(status: number, failed: string[] | undefined, skippedBefore: boolean): string {
  const at = failed === undefined ? "" : ` at '${commandText(failed)}'`;
  return skippedBefore
    ? `the rest not followed: it stopped${at} (status ${status}) after a command strata did not follow`
    : `the script would have failed${at} with status ${status} here`;
}

function commandText(argv: string[]): string {
  const text = argv
    .map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`))
    .join(" ");
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}
