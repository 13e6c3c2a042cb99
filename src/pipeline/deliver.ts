import type { Artifact } from "../oci/image.js";
import { contentBlobs } from "../oci/layout.js";
import { readArtifact, writeLocation } from "../oci/locations/locations.js";
import { type ImageLocation, locationText, referenceLocation } from "../oci/locations/name.js";
import { type LocalName, parseLocalName } from "../oci/reference.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import type { PushEvent, PushReport } from "../oci/registry/push.js";
import { withRecords } from "../record/travel.js";
import { StrataError } from "../util/errors.js";

/** The name archives give an image when nothing names it (`podman load` shows localhost/strata/image:TAG). */
export const DEFAULT_IMAGE_NAME = "strata/image";

/** The names of an output nothing named: the layout's "latest", archives' strata/image:latest. */
export const DEFAULT_NAMES = { refName: "latest", archiveName: `${DEFAULT_IMAGE_NAME}:latest` };

export interface WriteOptions {
  force?: boolean;
  /** The layout's `org.opencontainers.image.ref.name` ("latest", or "myapp:v1" when --tag named the image). */
  refName: string;
  /** "name:tag" for archives: the oci-archive's ref.name and the docker-archive's RepoTags, what loaders show. */
  archiveName: string;
  /** For docker-archive of a multi-platform artifact: which image (see platform.ts). */
  platform?: string;
  /** An OCI layout only: run on it before it is in place (a build's SBOMs and VEX). */
  completeLayout?: (dir: string) => Promise<void>;
}

/** How a push to a registry goes, for whoever shows it: its start, each blob, and its report. */
export interface PushWatcher {
  /** A line about what is written besides the push itself (an image copied without its record). */
  onNote?: (line: string) => void;
  onPushStart?: (blobs: number) => void;
  onPush?: (e: PushEvent) => void;
  onPushed?: (report: PushReport, artifact: Artifact) => void;
}

export interface Delivery extends PushWatcher {
  registry?: RegistryClientOptions;
  /** Parallel blob uploads. */
  jobs?: number;
}

/** A tag in the output's name and a --tag that says otherwise: which one was meant is not for strata to guess. */
function checkTagAgrees(output: ImageLocation, tag: string | undefined): void {
  const named =
    output.transport === "docker-archive" ? output.name : "tag" in output ? output.tag : undefined;
  if (tag === undefined || named === undefined || named === tag) return;
  throw new StrataError("USAGE", `--tag ${tag} contradicts "${named}" in ${locationText(output)}`, {
    hint: "name the tag once, in the output or with --tag",
  });
}

/**
 * The names a local output gives the image (build, pull): the layout's ref name is `--tag`, else
 * "latest" (what `umoci unpack --image DIR:latest` and skopeo's `oci:DIR` expect); archives load as
 * NAME:TAG from `--tag`, else from `fallback` (a pulled image keeps its registry name).
 */
export function outputNames(
  output: ImageLocation,
  tagFlag: string | undefined,
  fallback: Partial<LocalName> = {},
): Pick<WriteOptions, "refName" | "archiveName"> {
  checkTagAgrees(output, tagFlag);
  const named = tagFlag === undefined ? undefined : parseLocalName(tagFlag);
  const name = named?.name ?? fallback.name ?? DEFAULT_IMAGE_NAME;
  return { refName: tagFlag ?? "latest", archiveName: `${name}:${named?.tag ?? fallback.tag ?? "latest"}` };
}

/** Writes an artifact to any image location, with its images' records; a registry's push report is returned. */
export async function writeArtifact(
  location: ImageLocation,
  artifact: Artifact,
  opts: WriteOptions,
  delivery: Delivery = {},
): Promise<PushReport | undefined> {
  artifact = await withRecords(artifact, delivery.onNote);
  if (location.transport !== "docker") return writeLocation(location, artifact, opts);
  delivery.onPushStart?.(contentBlobs(artifact).length);
  const registry = { ...delivery.registry, concurrency: delivery.jobs, onProgress: delivery.onPush };
  const report = (await writeLocation(location, artifact, { ...opts, registry }))!;
  delivery.onPushed?.(report, artifact);
  return report;
}

/** Pushes an artifact to REF (a registry reference, or any image location's name) under the default names (push, build --push). */
export async function pushToReference(artifact: Artifact, refText: string, delivery: Delivery) {
  const location = referenceLocation(refText);
  return { location, report: await writeArtifact(location, artifact, DEFAULT_NAMES, delivery) };
}

/** `strata push`: the artifact at `source` (its `tag` of a layout) pushed to REF. */
export async function pushFrom(source: string, refText: string, opts: Delivery & { tag?: string }) {
  const artifact = await readArtifact(source, { tag: opts.tag, registry: opts.registry });
  return pushToReference(artifact, refText, opts);
}
