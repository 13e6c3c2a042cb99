import { Command, CommanderError } from "commander";
import { cacheRoot, prepareCacheRoot } from "../util/dirs.js";
import { STRATA_VERSION } from "../util/version.js";
import { registerAdmission } from "./commands/admission.js";
import { registerAdvisories } from "./commands/advisories.js";
import { registerAudit } from "./commands/audit.js";
import { registerBuild } from "./commands/build.js";
import { registerCheck } from "./commands/check.js";
import { mirrorUrl } from "./commands/common.js";
import { registerDiff } from "./commands/diff.js";
import { registerFetch } from "./commands/fetch.js";
import { registerIndex } from "./commands/index.js";
import { registerJob } from "./commands/job.js";
import { registerLock } from "./commands/lock.js";
import { registerPs } from "./commands/ps.js";
import { registerPull } from "./commands/pull.js";
import { registerPush } from "./commands/push.js";
import { registerQuery } from "./commands/query.js";
import { registerRun } from "./commands/run.js";
import { registerRuns } from "./commands/runs.js";
import { registerSbom } from "./commands/sbom.js";
import { registerScan } from "./commands/scan.js";
import { registerServe } from "./commands/serve.js";
import { registerSign } from "./commands/sign.js";
import { registerUpdate } from "./commands/update.js";
import { registerVex } from "./commands/vex.js";
import { ExitStatus } from "./exit-status.js";
import { Output, reportError } from "./output.js";

const HELP_WIDTH = 110;

export function buildProgram(): { program: Command; output: () => Output } {
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
  registerLock(program, out);
  registerFetch(program, out);
  registerBuild(program, out);
  registerPush(program, out);
  registerPull(program, out);
  registerUpdate(program, out);
  registerDiff(program);
  registerIndex(program, out);
  registerQuery(program);
  registerSbom(program, out);
  registerVex(program, out);
  registerSign(program, out);
  registerScan(program, out);
  registerCheck(program);
  registerAdvisories(program, out);
  registerAdmission(program, out);
  registerAudit(program);
  registerServe(program, out);
  registerPs(program);
  registerRun(program, out);
  registerRuns(program);
  registerJob(program);
  for (const cmd of program.commands) cmd.exitOverride();
  return { program, output: out };
}

export async function main(argv: string[]): Promise<number> {
  const { program } = buildProgram();
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
