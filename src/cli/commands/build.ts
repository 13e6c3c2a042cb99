import type { KeyObject } from "node:crypto";
import type { Command } from "commander";
import { gapsText, scriptGaps, scriptSummaryLine, summarizeScripts } from "../../effects/script-summary.js";
import { assertLockCovers, type Lock, lockDrift, lockPathFor, readLock, writeLock } from "../../lock/lock.js";
import { relocateLock } from "../../lock/relocate.js";
import { resolveSpec } from "../../lock/resolve.js";
import { archiveKind } from "../../oci/homes/docker-archive.js";
import { readHomeIfPresent } from "../../oci/homes/homes.js";
import { type Home, homeText, outputHome, referenceHome, sourceHome } from "../../oci/homes/name.js";
import { type Artifact, artifactDescriptor, artifactImages, imageDescriptor } from "../../oci/image.js";
import { chooseImage, parsePlatform } from "../../oci/platform.js";
import { KnownBlobs } from "../../oci/registry/known-blobs.js";
import { type BuildEvent, type BuildOptions, type BuildResult, buildImages } from "../../pipeline/builder.js";
import { type AttachReport, attachSboms } from "../../sbom/attach.js";
import { ImageFacts } from "../../sbom/subject.js";
import { attestSboms } from "../../sign/attestations.js";
import { assertSignable, type SignReport, signImage } from "../../sign/sign-image.js";
import { loadSpec, type Spec } from "../../spec/spec.js";
import { cacheRoot } from "../../util/dirs.js";
import { isStrataError, StrataError } from "../../util/errors.js";
import { sha256File } from "../../util/hash.js";
import { attachBuiltVex } from "../../vex/vex-image.js";
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
import { examples } from "../help.js";
import { formatBytes, type Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import { printSignReport, type SigningFlags, signingKeyOf, withSigningFlags } from "../signing-flags.js";
import { type CommonOptions, collect, specArgument, workerCount } from "./common.js";

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

/**
 * Where a build's attached artifacts go (SBOMs, signatures, provenance): the OCI layout -o wrote
 * (the platform --platform chose) and the registry --push sent the image to.
 */
function attachTargets(
  result: BuildResult,
  output: Home | undefined,
  opts: BuildFlags,
  o: Output,
  what: string,
): { home: Home; artifact: Artifact }[] {
  const targets: { home: Home; artifact: Artifact }[] = [];
  if (output?.transport === "oci") {
    const artifact: Artifact =
      opts.platform === undefined
        ? result.artifact
        : { kind: "image", image: chooseImage(artifactImages(result.artifact), opts.platform, "--platform") };
    targets.push({ home: output, artifact });
  } else if (output) o.line(`note: ${homeText(output)} cannot hold attached ${what}`);
  if (opts.push) targets.push({ home: referenceHome(opts.push), artifact: result.artifact });
  return targets;
}

/**
 * The SPDX and CycloneDX SBOMs (unless --no-sbom) and the OpenVEX document (unless --no-vex) of
 * `artifact`, attached where `home` keeps it, said as attached to `shown`. What they need from each
 * layer is kept per layer digest in the cache: a warm build reads no layer and no .deb for them.
 */
async function attachDocuments(
  home: Home,
  artifact: Artifact,
  shown: Home,
  opts: BuildFlags,
  o: Output,
): Promise<AttachReport[]> {
  const registry = registryOptions(opts);
  const root = cacheRoot(opts.cacheDir);
  const facts = new ImageFacts({ cacheRoot: root });
  const sboms = opts.sbom ? await attachSboms(home, artifact, { registry, facts }) : [];
  for (const r of sboms)
    o.line(`attached ${r.format} SBOM to ${r.platform} ${r.subject} in ${homeText(shown)} (${r.via})`);
  const vexes = opts.vex ? await attachBuiltVex(home, artifact, { cacheRoot: root, registry, facts }) : [];
  for (const r of vexes)
    o.line(`attached the VEX document ${r.digest} to ${r.subject} in ${homeText(shown)} (${r.via})`);
  return sboms;
}

/**
 * The layout -o writes gets its documents before it is in place (so it appears whole with them, or
 * not at all); `sboms` hears what was attached. Undefined for other outputs.
 */
function layoutDocuments(
  result: BuildResult,
  output: Home | undefined,
  opts: BuildFlags,
  o: Output,
  sboms: Map<string, AttachReport[]>,
): ((dir: string) => Promise<void>) | undefined {
  if (output?.transport !== "oci" || (!opts.sbom && !opts.vex)) return undefined;
  const [{ artifact }] = attachTargets(result, output, { ...opts, push: undefined }, o, "");
  return async (dir) => {
    sboms.set(
      homeText(output),
      await attachDocuments({ transport: "oci", path: dir }, artifact, output, opts, o),
    );
  };
}

/** The pushed image's documents, after the push; an archive output says it has no place for them. */
async function attachPushedDocuments(
  result: BuildResult,
  output: Home | undefined,
  opts: BuildFlags,
  o: Output,
  sboms: Map<string, AttachReport[]>,
): Promise<void> {
  if (!opts.sbom && !opts.vex) return;
  const what = "SBOMs and VEX (strata sbom and strata vex write them)";
  for (const { home, artifact } of attachTargets(result, output, opts, o, what)) {
    if (home === output) continue; // attached as it was written
    sboms.set(homeText(home), await attachDocuments(home, artifact, home, opts, o));
  }
}

/** With --sign, each target signed, its provenance (naming the spec's sha256) and SBOMs attested. */
async function signBuilt(
  result: BuildResult,
  output: Home | undefined,
  opts: BuildFlags,
  o: Output,
  key: KeyObject | undefined,
  spec: Spec,
  sboms: Map<string, AttachReport[]>,
): Promise<SignReport[]> {
  if (key === undefined) return [];
  const specSha256 = (await sha256File(spec.path)).hex;
  const registry = registryOptions(opts);
  const reports: SignReport[] = [];
  for (const { home, artifact } of attachTargets(result, output, opts, o, "signatures")) {
    assertSignable(home);
    const report = await signImage(home, key, { artifact, registry, specSha256 });
    printSignReport(report, false, o);
    reports.push(report);
    for (const a of await attestSboms(home, artifact, sboms.get(homeText(home)) ?? [], key, registry))
      o.line(`attested the ${a.format} SBOM of ${a.subject} (${a.via})`);
  }
  return reports;
}

/** The lock to build from: the one on disk when it covers the spec, else re-resolved with --lock-update. */
async function lockFor(spec: Spec, opts: BuildFlags, out: Output): Promise<Lock> {
  const lockPath = lockPathFor(spec);
  let lock: Lock | undefined;
  try {
    lock = relocateLock(await readLock(lockPath, spec, { cacheRoot: opts.cacheDir }), opts.mirror);
  } catch (err) {
    if (!(isStrataError(err, "LOCK_MISSING") && opts.lockUpdate)) throw err;
  }
  if (lock && lockDrift(lock, spec).length === 0) return lock;
  if (!opts.lockUpdate) {
    assertLockCovers(lock!, spec, lockPath);
  }
  out.line(`resolving ${spec.path} (--lock-update)`);
  const fresh = await resolveSpec(spec, { cacheRoot: opts.cacheDir });
  await writeLock(lockPath, fresh, { cacheRoot: opts.cacheDir });
  out.line(`wrote ${lockPath}`);
  return fresh;
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

/**
 * The images whose layers a build may reuse: what --push's REF holds now, and each --cache-from.
 * One that does not exist yet is noted, not an error (the first push of a tag). Layers of a registry
 * image are remembered as held there, so a push to another repository of it mounts them.
 */
async function reuseSources(opts: BuildFlags, o: Output): Promise<Artifact[]> {
  const homes = await Promise.all([
    ...(opts.push ? [referenceHome(opts.push)] : []),
    ...(opts.cacheFrom ?? []).map((text) => sourceHome(text, archiveKind)),
  ]);
  const artifacts: Artifact[] = [];
  const known = await KnownBlobs.load();
  for (const home of homes) {
    const artifact = await readHomeIfPresent(home, { registry: registryOptions(opts) });
    if (artifact === undefined) {
      o.line(`nothing at ${homeText(home)} yet: no layers to reuse from it`);
      continue;
    }
    if (home.transport === "docker")
      known.recordImages(home.ref.registry, home.ref.repository, artifactImages(artifact));
    artifacts.push(artifact);
  }
  // The mount hints are a cache: failing to save them must not fail the build.
  await known.save().catch(() => undefined);
  return artifacts;
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

export function registerBuild(program: Command, out: () => Output): void {
  withSigningFlags(
    withRegistryFlags(
      program
        .command("build")
        .description(
          "build the locked spec into an OCI image (an index for several archs), one layer per package",
        )
        .argument("[spec]", "the spec file", "strata.yaml")
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
  )
    .addHelpText(
      "after",
      examples(
        "strata build -o out/app",
        "strata build --push reg.example/team/app:1 --no-sbom",
        "strata build --push reg.example/team/app:1 --sign --key keys/release.key",
      ),
    )
    .action(async (specPath: string, opts: BuildFlags) => {
      if (!opts.output && !opts.push) {
        throw new StrataError("USAGE", "build needs -o OUTPUT, --push REF, or both", {
          hint: "e.g. strata build -o out/python3",
        });
      }
      const output = opts.output === undefined ? undefined : outputHome(opts.output, opts.format);
      const names = output && outputNames(output, opts.tag);
      if (opts.platform !== undefined) parsePlatform(opts.platform);
      const o = out();
      const started = performance.now();
      const key = await signingKeyOf(opts);
      const spec = await loadSpec(specArgument(specPath), { mirror: opts.mirror, filesRoot: opts.filesRoot });
      checkOneImage(spec, opts, output);
      for (const warning of spec.warnings) o.line(`warning: ${warning}`);
      const lock = await lockFor(spec, opts, o);
      const reuse = await reuseSources(opts, o);
      const progress = buildProgress(o);
      const result = await buildImages(spec, lock, {
        cacheRoot: cacheRoot(opts.cacheDir),
        jobs: opts.jobs,
        reuse,
        ...progress,
      }).finally(() => progress.stop());
      if (opts.strict) assertNoGaps(result);
      const sboms = new Map<string, AttachReport[]>();
      if (output && names) {
        const completeLayout = layoutDocuments(result, output, opts, o, sboms);
        const options = { ...names, force: opts.force, platform: opts.platform, completeLayout };
        await writeArtifact(output, result.artifact, options, o, { ...opts, json: false });
      }
      reportBuild(o, result, spec);
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      if (output) o.line(`wrote ${homeText(output)} in ${seconds}s`);
      const push = opts.push
        ? await pushWithReport(result.artifact, opts.push, { ...opts, json: false }, o)
        : undefined;
      await attachPushedDocuments(result, output, opts, o, sboms);
      const signed = await signBuilt(result, output, opts, o, key, spec, sboms);
      const signatures = signed.map(({ payload, ...r }) => r);
      if (opts.json) {
        const json = {
          ...summary(result),
          seconds: Number(seconds),
          push,
          sboms: [...sboms.values()].flat(),
          signatures,
        };
        process.stdout.write(`${JSON.stringify(json)}\n`);
      }
    });
}
