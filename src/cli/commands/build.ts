import { gapsText, scriptGaps, scriptSummaryLine, summarizeScripts } from "../../effects/script-summary.js";
import { archiveKind } from "../../oci/homes/docker-archive.js";
import { type Home, homeText, outputHome, referenceHome, sourceHome } from "../../oci/homes/name.js";
import { artifactDescriptor, imageDescriptor } from "../../oci/image.js";
import { parsePlatform } from "../../oci/platform.js";
import { lockForBuild } from "../../pipeline/build-lock.js";
import { type BuildEvent, type BuildOptions, type BuildResult, buildImages } from "../../pipeline/builder.js";
import { BuiltDocuments } from "../../pipeline/built-documents.js";
import { reuseSources } from "../../pipeline/reuse-sources.js";
import { loadSpec, type Spec } from "../../spec/spec.js";
import { cacheRoot } from "../../util/dirs.js";
import { StrataError } from "../../util/errors.js";
import type { CommandDef } from "../command.js";
import {
  formatOption,
  type OutputFormat,
  outputNames,
  type PushFlags,
  pushWithReport,
  registryOptions,
  tagOption,
  writeArtifact,
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

/** `--strict`: nothing is written when a script effect was not made for a reason other than a deliberate one. */
function assertNoGaps(result: BuildResult): void {
  const gaps = scriptGaps(result.skippedEffects);
  if (gaps.length === 0) return;
  throw new StrataError("EFFECTS_INCOMPLETE", `--strict: ${gapsText(gaps)}; nothing was written`, {
    hint: "build without --strict to see each in the report (--json lists every skipped command)",
  });
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

/** A docker-archive holds one image: a multi-arch spec without --platform fails before any work. */
function checkOneImage(spec: Spec, opts: BuildFlags, output: Home | undefined): void {
  if (output?.transport !== "docker-archive" || opts.platform !== undefined || spec.archs.length === 1)
    return;
  throw new StrataError(
    "USAGE",
    `a docker-archive holds one image, and ${spec.path} builds ${spec.archs.length}: ${spec.archs.join(", ")}`,
    { hint: `pick one with --platform, e.g. --platform ${spec.archs[0]}` },
  );
}

/** The images --push's REF holds now and each --cache-from: their layers are reused where they match. */
async function reuseHomes(opts: BuildFlags): Promise<Home[]> {
  return Promise.all([
    ...(opts.push ? [referenceHome(opts.push)] : []),
    ...(opts.cacheFrom ?? []).map((text) => sourceHome(text, archiveKind)),
  ]);
}

/** The spec, its lock and the images it reuses layers from, built into an artifact (with --strict, whole). */
async function buildSpec(spec: Spec, opts: BuildFlags, out: Output): Promise<BuildResult> {
  const note = (message: string) => out.line(message);
  const root = cacheRoot(opts.cacheDir);
  const lock = await lockForBuild(spec, {
    cacheRoot: opts.cacheDir,
    mirror: opts.mirror,
    update: opts.lockUpdate,
    onNote: note,
  });
  const reuse = await reuseSources(await reuseHomes(opts), { registry: registryOptions(opts), onNote: note });
  const progress = buildProgress(out);
  const result = await buildImages(spec, lock, {
    cacheRoot: root,
    jobs: opts.jobs,
    reuse,
    ...progress,
  }).finally(() => progress.stop());
  if (opts.strict) assertNoGaps(result);
  return result;
}

/** The documents of the build to attach where -o writes it and --push sends it. */
function builtDocuments(result: BuildResult, output: Home | undefined, opts: BuildFlags, out: Output) {
  return new BuiltDocuments(result.artifact, {
    output,
    platform: opts.platform,
    push: opts.push === undefined ? undefined : referenceHome(opts.push),
    sbom: Boolean(opts.sbom),
    vex: Boolean(opts.vex),
    cacheRoot: cacheRoot(opts.cacheDir),
    registry: registryOptions(opts),
    onNote: (message) => out.line(message),
  });
}

async function build([specPath]: [string], opts: BuildFlags, out: Output): Promise<void> {
  if (!opts.output && !opts.push) {
    throw new StrataError("USAGE", "build needs -o OUTPUT, --push REF, or both", {
      hint: "e.g. strata build -o out/python3",
    });
  }
  const output = opts.output === undefined ? undefined : outputHome(opts.output, opts.format);
  const names = output && outputNames(output, opts.tag);
  if (opts.platform !== undefined) parsePlatform(opts.platform);
  const started = performance.now();
  const key = await signingKeyOf(opts);
  const spec = await loadSpec(specArgument(specPath), { mirror: opts.mirror, filesRoot: opts.filesRoot });
  checkOneImage(spec, opts, output);
  for (const warning of spec.warnings) out.line(`warning: ${warning}`);
  const result = await buildSpec(spec, opts, out);
  const documents = builtDocuments(result, output, opts, out);
  if (output && names) {
    const options = {
      ...names,
      force: opts.force,
      platform: opts.platform,
      completeLayout: documents.layoutCompleter(),
    };
    await writeArtifact(output, result.artifact, options, out, { ...opts, json: false });
  }
  reportBuild(out, result, spec);
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  if (output) out.line(`wrote ${homeText(output)} in ${seconds}s`);
  const push = opts.push
    ? await pushWithReport(result.artifact, opts.push, { ...opts, json: false }, out)
    : undefined;
  await documents.attachPushed();
  const signed = key ? await documents.sign(key, spec.path, (r) => printSignReport(r, false, out)) : [];
  const signatures = signed.map(({ payload, ...r }) => r);
  if (opts.json)
    out.json({
      ...summary(result),
      seconds: Number(seconds),
      push,
      sboms: documents.attachedSboms(),
      signatures,
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
