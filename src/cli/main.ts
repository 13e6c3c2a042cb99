import { Command, CommanderError } from "commander";
import { cacheRoot, prepareCacheRoot } from "../util/dirs.js";
import { STRATA_VERSION } from "../util/version.js";
import { type AnyCommandDef, addCommand } from "./command.js";
import { mirrorUrl } from "./commands/common.js";
import { ExitStatus } from "./exit-status.js";
import { Output, reportError } from "./output.js";

const HELP_WIDTH = 110;

/**
 * The commands, in the order --help lists them, each loaded only when used: a build loads no web
 * server and a query no layer code (the bundle is split per command; see scripts/build.mjs).
 */
const COMMAND_MODULES: { name: string; load: () => Promise<AnyCommandDef> }[] = [
  { name: "lock", load: async () => (await import("./commands/lock.js")).command },
  { name: "fetch", load: async () => (await import("./commands/fetch.js")).command },
  { name: "build", load: async () => (await import("./commands/build.js")).command },
  { name: "push", load: async () => (await import("./commands/push.js")).command },
  { name: "pull", load: async () => (await import("./commands/pull.js")).command },
  { name: "update", load: async () => (await import("./commands/update.js")).command },
  { name: "diff", load: async () => (await import("./commands/diff.js")).command },
  { name: "index", load: async () => (await import("./commands/index.js")).command },
  { name: "query", load: async () => (await import("./commands/query.js")).command },
  { name: "sbom", load: async () => (await import("./commands/sbom.js")).command },
  { name: "vex", load: async () => (await import("./commands/vex.js")).command },
  { name: "key", load: async () => (await import("./commands/key.js")).command },
  { name: "sign", load: async () => (await import("./commands/sign.js")).command },
  { name: "verify", load: async () => (await import("./commands/verify.js")).command },
  { name: "scan", load: async () => (await import("./commands/scan.js")).command },
  { name: "check", load: async () => (await import("./commands/check.js")).command },
  { name: "advisories", load: async () => (await import("./commands/advisories.js")).command },
  { name: "admission", load: async () => (await import("./commands/admission.js")).command },
  { name: "audit", load: async () => (await import("./commands/audit.js")).command },
  { name: "serve", load: async () => (await import("./commands/serve.js")).command },
  { name: "ps", load: async () => (await import("./commands/ps.js")).command },
  { name: "run", load: async () => (await import("./commands/run.js")).command },
  { name: "runs", load: async () => (await import("./commands/runs.js")).command },
  { name: "job", load: async () => (await import("./commands/job.js")).command },
];

/** Global options that take a value: the word after them is not the command. */
const VALUE_OPTIONS = new Set(["--mirror", "--cache-dir"]);

/** A global option this scan knows (anything else before the command, --help too, loads them all). */
function isGlobalOption(word: string): boolean {
  return word === "-q" || word === "--quiet" || /^--(mirror|cache-dir)=/.test(word);
}

/**
 * The module of the command `argv` names, none for --version, or all of them when it names none,
 * one strata does not know, or something else comes first (top-level help, `help CMD`,
 * `--help CMD`, a typo to suggest a command for, an option commander is to refuse).
 */
function commandModules(argv: string[] | undefined): typeof COMMAND_MODULES {
  const words = argv?.slice(2) ?? [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (word === "--version" || word === "-V") return [];
    if (VALUE_OPTIONS.has(word)) i++;
    else if (word.startsWith("-")) {
      if (!isGlobalOption(word)) return COMMAND_MODULES;
    } else {
      const named = COMMAND_MODULES.find((m) => m.name === word);
      return named ? [named] : COMMAND_MODULES;
    }
  }
  return COMMAND_MODULES;
}

/** The program with the command `argv` names (every command without `argv`). */
export async function buildProgram(argv?: string[]): Promise<{ program: Command; output: () => Output }> {
  let output: Output | undefined;
  const program = new Command("strata")
    .description(
      "Build container images from Debian packages: a declarative spec (strata.yaml), a signed and " +
        "pinned lock (strata.lock), and one deterministic layer per package.",
    )
    .version(STRATA_VERSION)
    .option("--mirror <url>", "Debian mirror: http://HOST keeps paths, a full URL replaces", mirrorUrl)
    .option("--cache-dir <dir>", "cache directory (default $STRATA_CACHE_DIR, else ~/.cache/strata)")
    .option("-q, --quiet", "print only errors")
    .showHelpAfterError("(run strata --help for usage)")
    .configureOutput({ outputError: (text, write) => write(`strata: ${text}`) })
    // One line per flag: descriptions are written to fit 110 columns, wider terminals get more.
    .configureHelp({ showGlobalOptions: true, helpWidth: Math.max(process.stdout.columns ?? 0, HELP_WIDTH) })
    .addHelpText(
      "after",
      [
        "",
        "Examples:",
        "  strata lock                          resolve strata.yaml into strata.lock",
        "  strata build -o out/app              build the image into an OCI layout",
        "  strata push out/app reg:5000/app:1   push it (only the layers the registry lacks)",
        "  strata diff reg:5000/app:1 out/app   what changed: packages, layers, bytes a node must pull",
        "  strata update reg:5000/app:1 --spec strata.yaml --package libssl3",
        "                                       swap one package's layer in place (and update the lock)",
        "  strata index sync reg:5000           index every image of a registry (only what changed)",
        "  strata query 'openssl < 3.0.15-1~deb12u1'   which images hold it",
        "  strata sbom reg:5000/app:1           its SBOM (SPDX 2.3; --format cyclonedx), attached or computed",
        "  strata run out/app -- --verbose      run it as a job (runc, read-only, no network), recorded",
        "  strata job manifest reg:5000/app:1 --name nightly --schedule '0 3 * * *'   a CronJob by digest",
        "  strata sign reg:5000/app:1 --key keys/release.key",
        "                                       sign it (cosign's format) and attest its provenance",
        "  strata verify reg:5000/app:1 --key keys/release.pub --provenance",
        "",
        "Image locations are named as skopeo names them: oci:DIR[:TAG], oci-archive:FILE[:TAG],",
        "docker-archive:FILE[:NAME:TAG], docker://REGISTRY/REPO[:TAG|@DIGEST].",
        "",
        "Environment: SOURCE_DATE_EPOCH (file times), STRATA_CACHE_DIR, STRATA_HTTP_TIMEOUT (s), REGISTRY_AUTH_FILE,",
        "STRATA_INDEX (the fleet index: a file or postgres:// URL), STRATA_SIGNING_PASSPHRASE (the signing key's).",
        "",
      ].join("\n"),
    )
    .exitOverride();
  const out = () => {
    output ??= new Output(Boolean(program.opts().quiet));
    return output;
  };
  // Global options are merged into each command's options object.
  program.hook("preAction", async (_root, action) => {
    Object.assign(action.opts(), { ...program.opts(), ...action.opts() });
    await prepareCacheRoot(cacheRoot(action.opts().cacheDir));
  });
  for (const def of await Promise.all(commandModules(argv).map((m) => m.load())))
    addCommand(program, def, out);
  return { program, output: out };
}

export async function main(argv: string[]): Promise<number> {
  const { program } = await buildProgram(argv);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof ExitStatus) return err.status;
    if (err instanceof CommanderError) {
      // Commander already printed help, the version, or the usage error.
      return err.exitCode === 0 ? 0 : 2;
    }
    return reportError(err);
  }
}
