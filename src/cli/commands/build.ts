import { scriptSummaryLine, summarizeScripts } from "../../effects/script-summary.js";
import { artifactDescriptor, imageDescriptor } from "../../oci/image.js";
import { type ImageLocation, locationText, outputLocation } from "../../oci/locations/name.js";
import { parsePlatform } from "../../oci/platform.js";
import { type BuildWatcher, buildToDestinations } from "../../pipeline/build-to-destinations.js";
import type { BuildEvent, BuildOptions, BuildResult } from "../../pipeline/builder.js";
import { outputNames } from "../../pipeline/deliver.js";
import type { SignReport } from "../../sign/sign-image.js";
import type { Spec } from "../../spec/spec.js";
import { StrataError } from "../../util/errors.js";
import type { CommandDef } from "../command.js";
import {
  formatOption,
  type OutputFormat,
  type PushFlags,
  pushPrinter,
  registryOptions,
  tagOption,
} from "../destination.js";
import { formatBytes, type Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import { printSignReport, type SigningFlags, signingKeyOf, withSigningFlags } from "../signing-flags.js";
import { type CommonOptions, collect, SPEC_ARGUMENT, specArgument, workerCount } from "./common.js";

interface BuildFlags extends CommonOptions, PushFlags, SigningFlags {
  output?: string;
  format?: OutputFormat;
  force?: boolean;
  tag?: string;
  platform?: string;
  lockUpdate?: boolean;
  push?: string;
  cacheFrom?: string[];
  filesRoot?: string;
  sbom?: boolean;
  vex?: boolean;
  strict?: boolean;
}

function summary(result: BuildResult) {
  return {
    digest: artifactDescriptor(result.artifact).digest,
    mediaType: artifactDescriptor(result.artifact).mediaType,
    epoch: result.epoch,
    images: result.images.map(({ arch, image, layers }) => ({
      arch,
      digest: imageDescriptor(image).digest,
      layers: layers.map((l) => ({
        digest: l.blob.digest,
        diffId: l.blob.diffId,
        size: l.blob.size,
        kind: l.kind,
        packages: l.packages,
      })),
    })),
    skippedScripts: result.skippedScripts,
    skippedEffects: result.skippedEffects,
    scriptsMade: result.scriptsMade,
    overlaps: result.overlaps,
    work: result.work,
  };
}

function layerNote(e: Extract<BuildEvent, { kind: "layer" }>): string {
  if (e.reusedFrom !== undefined) return ` (reused from ${e.reusedFrom.slice(0, 19)})`;
  return e.cached ? " (cached)" : "";
}

/** Build events as progress: downloads and layers are separate steps, notes go above the bars. */
function buildProgress(o: Output): Pick<BuildOptions, "onEvent" | "onPlan"> & { stop(): void } {
  let steps = o.steps({});
  return {
    onPlan: ({ layers, debs }) => {
      steps = o.steps({ download: debs, layer: layers });
    },
    onEvent: (e) => {
      if (e.kind === "fetched")
        steps.tick("download", `${e.pkg.arch} ${e.pkg.name} ${e.pkg.version}${e.cached ? " (cached)" : ""}`);
      else if (e.kind === "layer") steps.tick("layer", `${e.arch} ${e.what}${layerNote(e)}`);
      else o.line(e.message);
    },
    stop: () => steps.stop(),
  };
}

/** The human lines after a build: per image its digest and size, and which packages share a group layer. */
function reportBuild(o: Output, result: BuildResult, spec: Spec): void {
  for (const { arch, image, layers } of result.images) {
    const size = layers.reduce((n, l) => n + l.blob.size, 0);
    o.line(`${arch}: ${imageDescriptor(image).digest} (${layers.length} layers, ${formatBytes(size)})`);
    for (const group of layers.filter((l) => l.kind === "group")) {
      o.line(
        `${arch}: over the layer budget (layers.max ${spec.layers.max}), ${group.packages.length} packages share one layer: ${group.packages.join(" ")}`,
      );
    }
  }
  for (const note of result.overlaps) o.line(note);
  reportScripts(o, result);
}

/** Last, the maintainer scripts by package: made and skipped, the main reasons (--json has every command). */
function reportScripts(o: Output, result: BuildResult): void {
  if (result.skippedScripts.length === 0) return;
  const summaries = summarizeScripts(result.scriptsMade, result.skippedEffects);
  o.line(
    `maintainer scripts of ${result.skippedScripts.length} packages followed, not run (--json lists each skipped command):`,
  );
  for (const s of summaries) o.line(`  ${scriptSummaryLine(s)}`);
  const listed = new Set(summaries.map((s) => s.package));
  const quiet = result.skippedScripts.filter((p) => !listed.has(p));
  if (quiet.length > 0) o.line(`  nothing made or skipped: ${quiet.join(" ")}`);
}

/** Progress, notes and reports of a build as they come; `stop` ends the progress displays. */
function buildPrinter(
  out: Output,
  started: number,
  output: ImageLocation | undefined,
): BuildWatcher & { stop(): void; seconds: string } {
  const progress = buildProgress(out);
  const push = pushPrinter(out);
  const printer = {
    seconds: "",
    ...progress,
    ...push,
    onBuildEnd: () => progress.stop(),
    onBuilt: (result: BuildResult, spec: Spec) => {
      reportBuild(out, result, spec);
      printer.seconds = ((performance.now() - started) / 1000).toFixed(2);
      if (output) out.line(`wrote ${locationText(output)} in ${printer.seconds}s`);
    },
    onWarning: (warning: string) => out.line(`warning: ${warning}`),
    onNote: (message: string) => out.line(message),
    onPushWritten: (location: ImageLocation) => out.line(`wrote ${locationText(location)}`),
    onSigned: (report: SignReport) => printSignReport(report, false, out),
    stop: () => {
      progress.stop();
      push.stop();
    },
  };
  return printer;
}

async function build([specPath]: [string], opts: BuildFlags, out: Output): Promise<void> {
  if (!opts.output && !opts.push) {
    throw new StrataError("USAGE", "build needs -o OUTPUT, --push REF, or both", {
      hint: "e.g. strata build -o out/python3",
    });
  }
  const output = opts.output === undefined ? undefined : outputLocation(opts.output, opts.format);
  const names = output && outputNames(output, opts.tag);
  if (opts.platform !== undefined) parsePlatform(opts.platform);
  const started = performance.now();
  const key = await signingKeyOf(opts);
  const request = {
    ...opts,
    specPath: specArgument(specPath),
    output: output && names && { location: output, names, force: opts.force },
    sbom: Boolean(opts.sbom),
    vex: Boolean(opts.vex),
    key,
    registry: registryOptions(opts),
  };
  const printer = buildPrinter(out, started, output);
  const built = await buildToDestinations(request, printer).finally(() => printer.stop());
  if (opts.json)
    out.json({
      ...summary(built.result),
      seconds: Number(printer.seconds),
      push: built.push,
      sboms: built.sboms,
      signatures: built.signatures,
    });
}

export const command: CommandDef<BuildFlags, [string]> = {
  name: "build",
  summary: "build the locked spec into an OCI image (an index for several archs), one layer per package",
  arguments: [SPEC_ARGUMENT],
  options: (cmd) =>
    withSigningFlags(
      withRegistryFlags(
        cmd
          .option("-o, --output <path>", "where to write the image (an OCI layout directory by default)")
          .addOption(formatOption())
          .addOption(tagOption())
          .option("--platform <platform>", "the image a docker-archive holds (linux/arm64, arm64)")
          .option("--force", "replace an existing output (only once the new one is complete)")
          .option("--lock-update", "re-resolve and rewrite strata.lock when it does not cover the spec")
          .option("--push <ref>", "push the built image to a registry too (its layers there are reused)")
          .option("--cache-from <image>", "reuse the layers of an image strata built (repeatable)", collect)
          .option("--no-sbom", "do not attach the SPDX and CycloneDX SBOMs (attached by default)")
          .option("--no-vex", "do not attach the OpenVEX document of what the changelogs fix")
          .option("--strict", "fail if a maintainer script effect was not made, but on purpose")
          .option("--files-root <dir>", "the directory files: source: may read from (default: the spec's)")
          .option("-j, --jobs <n>", "parallel workers for layers and uploads", workerCount)
          .option("--json", "print the summary as JSON on stdout"),
      ),
    ),
  examples: [
    "strata build -o out/app",
    "strata build --push reg.example/team/app:1 --no-sbom",
    "strata build --push reg.example/team/app:1 --sign --key keys/release.key",
  ],
  handler: build,
};
