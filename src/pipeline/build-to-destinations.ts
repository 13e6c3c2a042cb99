import type { KeyObject } from "node:crypto";
import { gapsText, scriptGaps } from "../effects/script-summary.js";
import { archiveKind } from "../oci/locations/docker-archive.js";
import { type ImageLocation, referenceLocation, sourceLocation } from "../oci/locations/name.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import type { PushReport } from "../oci/registry/push.js";
import type { AttachReport } from "../sbom/attach.js";
import type { SignReport } from "../sign/sign-image.js";
import { loadSpec, type Spec } from "../spec/spec.js";
import { cacheRoot } from "../util/dirs.js";
import { StrataError } from "../util/errors.js";
import { lockForBuild } from "./build-lock.js";
import { type BuildOptions, type BuildResult, buildImages } from "./builder.js";
import { BuiltDocuments } from "./built-documents.js";
import {
  type Delivery,
  type PushWatcher,
  pushToReference,
  type WriteOptions,
  writeArtifact,
} from "./deliver.js";
import { reuseSources } from "./reuse-sources.js";

/** What `strata build` was asked: the spec, where the image goes, and how it is made. */
export interface BuildRequest {
  specPath: string;
  mirror?: string;
  filesRoot?: string;
  cacheDir?: string;
  /** Re-resolve and rewrite the lock when it does not cover the spec. */
  lockUpdate?: boolean;
  jobs?: number;
  /** Refuse a build with a script effect not made for other than a deliberate reason. */
  strict?: boolean;
  /** The -o output and the names it gives the image (see outputNames). */
  output?: { location: ImageLocation; names: Pick<WriteOptions, "refName" | "archiveName">; force?: boolean };
  platform?: string;
  /** The registry reference (or any image location's name) it is pushed to. */
  push?: string;
  /** Images whose layers are reused where they match. */
  cacheFrom?: string[];
  sbom: boolean;
  vex: boolean;
  key?: KeyObject;
  registry: RegistryClientOptions;
}

/** What happens as it goes: notes, the build's progress, the push, and each finished step. */
export interface BuildWatcher extends PushWatcher, Pick<BuildOptions, "onEvent" | "onPlan"> {
  onWarning: (warning: string) => void;
  onNote: (message: string) => void;
  /** The build's own work is over (done or failed): what showed its progress can stop. */
  onBuildEnd: () => void;
  /** Built, and written to -o if asked (before it is pushed). */
  onBuilt: (result: BuildResult, spec: Spec) => void;
  /** --push named an image location that is not a registry: it was written there. */
  onPushWritten: (location: ImageLocation) => void;
  onSigned: (report: SignReport) => void;
}

export interface BuildDelivered {
  result: BuildResult;
  push?: PushReport;
  sboms: AttachReport[];
  signatures: Omit<SignReport, "payload">[];
}

/**
 * `strata build`: the spec locked, built (reusing the layers of --push's image and --cache-from),
 * written to -o with its documents, pushed, documents attached there, and signed.
 */
export async function buildToDestinations(req: BuildRequest, watch: BuildWatcher): Promise<BuildDelivered> {
  const spec = await loadSpec(req.specPath, { mirror: req.mirror, filesRoot: req.filesRoot });
  checkOneImage(spec, req);
  for (const warning of spec.warnings) watch.onWarning(warning);
  const result = await buildSpec(spec, req, watch);
  const documents = new BuiltDocuments(result.artifact, {
    output: req.output?.location,
    platform: req.platform,
    push: req.push === undefined ? undefined : referenceLocation(req.push),
    sbom: req.sbom,
    vex: req.vex,
    cacheRoot: cacheRoot(req.cacheDir),
    registry: req.registry,
    onNote: watch.onNote,
  });
  const delivery = { ...watch, registry: req.registry, jobs: req.jobs };
  if (req.output) {
    const { location, names, force } = req.output;
    const options = { ...names, force, platform: req.platform, completeLayout: documents.layoutCompleter() };
    await writeArtifact(location, result.artifact, options, delivery);
  }
  watch.onBuilt(result, spec);
  const push = req.push ? await pushTo(req.push, result, delivery, watch) : undefined;
  await documents.attachPushed();
  const signed = req.key ? await documents.sign(req.key, spec.path, watch.onSigned) : [];
  const signatures = signed.map(({ payload, ...r }) => r);
  return { result, push, sboms: documents.attachedSboms(), signatures };
}

async function pushTo(ref: string, result: BuildResult, delivery: Delivery, watch: BuildWatcher) {
  const { location, report } = await pushToReference(result.artifact, ref, delivery);
  if (location.transport !== "docker") watch.onPushWritten(location);
  return report;
}

/** A docker-archive holds one image: a multi-arch spec without --platform fails before any work. */
function checkOneImage(spec: Spec, req: BuildRequest): void {
  if (
    req.output?.location.transport !== "docker-archive" ||
    req.platform !== undefined ||
    spec.archs.length === 1
  )
    return;
  throw new StrataError(
    "USAGE",
    `a docker-archive holds one image, and ${spec.path} builds ${spec.archs.length}: ${spec.archs.join(", ")}`,
    { hint: `pick one with --platform, e.g. --platform ${spec.archs[0]}` },
  );
}

/** The images --push's REF holds now and each --cache-from: their layers are reused where they match. */
async function reuseLocations(req: BuildRequest): Promise<ImageLocation[]> {
  return Promise.all([
    ...(req.push ? [referenceLocation(req.push)] : []),
    ...(req.cacheFrom ?? []).map((text) => sourceLocation(text, archiveKind)),
  ]);
}

/** The spec, its lock and the images it reuses layers from, built into an artifact (with --strict, whole). */
async function buildSpec(spec: Spec, req: BuildRequest, watch: BuildWatcher): Promise<BuildResult> {
  const lock = await lockForBuild(spec, {
    cacheRoot: req.cacheDir,
    mirror: req.mirror,
    update: req.lockUpdate,
    onNote: watch.onNote,
  });
  const reuse = await reuseSources(await reuseLocations(req), {
    registry: req.registry,
    onNote: watch.onNote,
  });
  const result = await buildImages(spec, lock, {
    cacheRoot: cacheRoot(req.cacheDir),
    jobs: req.jobs,
    reuse,
    onPlan: watch.onPlan,
    onEvent: watch.onEvent,
  }).finally(watch.onBuildEnd);
  if (req.strict) assertNoGaps(result);
  return result;
}

/** `--strict`: nothing is written when a script effect was not made for a reason other than a deliberate one. */
function assertNoGaps(result: BuildResult): void {
  const gaps = scriptGaps(result.skippedEffects);
  if (gaps.length === 0) return;
  throw new StrataError("EFFECTS_INCOMPLETE", `--strict: ${gapsText(gaps)}; nothing was written`, {
    hint: "build without --strict to see each in the report (--json lists every skipped command)",
  });
}
