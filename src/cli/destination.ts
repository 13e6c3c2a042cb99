import { Option } from "commander";
import { archiveKind } from "../oci/homes/docker-archive.js";
import { readHome, writeHome } from "../oci/homes/homes.js";
import {
  type Home,
  homeText,
  LOCAL_TRANSPORTS,
  type LocalTransport,
  referenceHome,
  sourceHome,
} from "../oci/homes/name.js";
import { type Artifact, artifactImages, imageDescriptor } from "../oci/image.js";
import { contentBlobs } from "../oci/layout.js";
import { platformText } from "../oci/platform.js";
import { type LocalName, parseLocalName } from "../oci/reference.js";
import { parseCredentials } from "../oci/registry/auth.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import type { BlobOutcome, PushEvent, PushReport } from "../oci/registry/push.js";
import { withRecords } from "../record/travel.js";
import { StrataError } from "../util/errors.js";
import { formatBytes, type Output } from "./output.js";

/** The `--format` of a bare -o path; a transport name (oci:, oci-archive:, docker-archive:) says it itself. */
export type OutputFormat = LocalTransport;

/** `--format` for build and pull: anything but the three formats is a usage error that lists them. */
export function formatOption(): Option {
  return new Option("--format <format>", "the format of a bare -o path").choices(LOCAL_TRANSPORTS);
}

/** `--tag` for build and pull: see `outputNames`. */
export function tagOption(): Option {
  return new Option("--tag <[name:]tag>", "the image's tag (default latest); NAME:TAG names archives too");
}

/** The name archives give an image when nothing names it (`podman load` shows localhost/strata/image:TAG). */
export const DEFAULT_IMAGE_NAME = "strata/image";

export interface RegistryFlags {
  creds?: string;
  insecure?: boolean;
  tlsVerify?: boolean;
  caFile?: string;
}

export interface PushFlags extends RegistryFlags {
  jobs?: number;
  json?: boolean;
}

export function registryOptions(flags: RegistryFlags): RegistryClientOptions {
  return {
    insecure: flags.insecure,
    credentials: flags.creds ? parseCredentials(flags.creds) : undefined,
    tlsVerify: flags.tlsVerify,
    caFile: flags.caFile,
  };
}

/** Reads the artifact at a location (any home; a bare path is a layout or an archive by its contents). */
export async function readArtifact(
  location: string,
  flags: RegistryFlags & { tag?: string },
): Promise<Artifact> {
  const home = await sourceHome(location, archiveKind);
  return readHome(home, { tag: flags.tag, registry: registryOptions(flags) });
}

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

/** A tag in the output's name and a --tag that says otherwise: which one was meant is not for strata to guess. */
function checkTagAgrees(output: Home, tag: string | undefined): void {
  const named =
    output.transport === "docker-archive" ? output.name : "tag" in output ? output.tag : undefined;
  if (tag === undefined || named === undefined || named === tag) return;
  throw new StrataError("USAGE", `--tag ${tag} contradicts "${named}" in ${homeText(output)}`, {
    hint: "name the tag once, in the output or with --tag",
  });
}

/**
 * The names a local output gives the image (build, pull): the layout's ref name is `--tag`, else
 * "latest" (what `umoci unpack --image DIR:latest` and skopeo's `oci:DIR` expect); archives load as
 * NAME:TAG from `--tag`, else from `fallback` (a pulled image keeps its registry name).
 */
export function outputNames(
  output: Home,
  tagFlag: string | undefined,
  fallback: Partial<LocalName> = {},
): Pick<WriteOptions, "refName" | "archiveName"> {
  checkTagAgrees(output, tagFlag);
  const named = tagFlag === undefined ? undefined : parseLocalName(tagFlag);
  const name = named?.name ?? fallback.name ?? DEFAULT_IMAGE_NAME;
  return { refName: tagFlag ?? "latest", archiveName: `${name}:${named?.tag ?? fallback.tag ?? "latest"}` };
}

/**
 * Writes an artifact to any home, with its images' records; a registry is pushed to with progress
 * and a report, which is returned (and printed as JSON with flags.json).
 */
export async function writeArtifact(
  home: Home,
  artifact: Artifact,
  opts: WriteOptions,
  out: Output,
  flags: PushFlags = {},
): Promise<PushReport | undefined> {
  artifact = await withRecords(artifact, (note) => out.line(note));
  if (home.transport !== "docker") return writeHome(home, artifact, opts);
  const progress = out.progress("push", contentBlobs(artifact).length);
  const done = new Map<string, BlobDone>();
  try {
    const registry = {
      ...registryOptions(flags),
      concurrency: flags.jobs,
      onProgress: (e: PushEvent) => {
        if (e.type !== "blob-done") return;
        done.set(e.digest, { outcome: e.outcome, size: e.size });
        progress.tick(`${e.digest.slice(7, 19)} ${e.outcome} ${formatBytes(e.size)}`);
      },
    };
    const report = (await writeHome(home, artifact, { ...opts, registry }))!;
    progress.stop();
    if (report.images.length > 1) for (const line of imageLines(artifact, done)) out.line(line);
    out.line(
      `${report.reference}: ${report.uploaded} blobs uploaded (${formatBytes(report.bytesSent)}), ${report.skipped} already there, ${report.mounted} mounted`,
    );
    if (flags.json) out.json(report);
    return report;
  } finally {
    progress.stop();
  }
}

/** Pushes an artifact to REF (a registry reference, or any home's name) with the report (push, build --push). */
export async function pushWithReport(artifact: Artifact, refText: string, flags: PushFlags, out: Output) {
  const options = { refName: "latest", archiveName: `${DEFAULT_IMAGE_NAME}:latest` };
  const home = referenceHome(refText);
  const report = await writeArtifact(home, artifact, options, out, flags);
  if (home.transport !== "docker") out.line(`wrote ${homeText(home)}`);
  return report;
}

interface BlobDone {
  outcome: BlobOutcome;
  size: number;
}

/**
 * One line per image, counting each blob once, in the first image that holds it: a layer shared by
 * two platforms (an arch-independent package, the same files layer) is pushed once, so counting it
 * in both made the lines add up to more than the totals.
 */
function imageLines(artifact: Artifact, done: Map<string, BlobDone>): string[] {
  const counted = new Map<string, string>(); // digest → the platform it was counted in
  return artifactImages(artifact).map((image) => {
    const where = platformText(image);
    const counts = { uploaded: 0, skipped: 0, mounted: 0, bytes: 0, shared: new Set<string>() };
    for (const { digest } of [image.manifest.config, ...image.manifest.layers]) {
      const first = counted.get(digest);
      if (first !== undefined) {
        if (first !== where) counts.shared.add(first);
        continue;
      }
      counted.set(digest, where);
      const blob = done.get(digest);
      if (blob === undefined) continue;
      counts[blob.outcome]++;
      if (blob.outcome === "uploaded") counts.bytes += blob.size;
    }
    const also = counts.shared.size > 0 ? `; the rest shared with ${[...counts.shared].join(", ")}` : "";
    return `pushed ${where} ${imageDescriptor(image).digest}: ${counts.uploaded} uploaded (${formatBytes(counts.bytes)}), ${counts.skipped} already there, ${counts.mounted} mounted${also}`;
  });
}
