import { existsSync } from "node:fs";
import { StrataError } from "../../util/errors.js";
import { readOciArchive, writeDockerArchive, writeOciArchive } from "../archive.js";
import { type Artifact, artifactImages } from "../image.js";
import { readLayout, writeLayout } from "../layout.js";
import { chooseImage } from "../platform.js";
import type { RegistryClientOptions } from "../registry/client.js";
import { pullArtifact, pullIfPresent } from "../registry/pull.js";
import { type PushOptions, type PushReport, pushArtifact } from "../registry/push.js";
import { archiveKind, readDockerArchive } from "./docker-archive.js";
import { type ImageLocation, locationText, sourceLocation } from "./name.js";

/**
 * One reader and one writer for each image location (see name.ts): every command that takes an image location
 * reads and writes through these two functions, so a new kind of image location is added here once.
 */

export interface ReadLocationOptions {
  /** Which entry of a layout or oci-archive, when the name carries no tag (push --tag). */
  tag?: string;
  registry?: RegistryClientOptions;
}

export async function readLocation(
  location: ImageLocation,
  opts: ReadLocationOptions = {},
): Promise<Artifact> {
  switch (location.transport) {
    case "oci":
      return readLayout(location.path, entryTag(location, opts.tag));
    case "oci-archive":
      return readOciArchive(location.path, entryTag(location, opts.tag));
    case "docker-archive":
      return { kind: "image", image: await readDockerArchive(location.path, location.name) };
    case "docker":
      return pullArtifact(location.ref, opts.registry);
  }
}

/** Reads the artifact at a location as a user names it (any image location; a bare path is a layout or an archive by its contents). */
export async function readArtifact(location: string, opts: ReadLocationOptions = {}): Promise<Artifact> {
  return readLocation(await sourceLocation(location, archiveKind), opts);
}

/** The artifact at `location`, or undefined when there is none yet (no such tag, file or directory). */
export async function readLocationIfPresent(
  location: ImageLocation,
  opts: ReadLocationOptions = {},
): Promise<Artifact | undefined> {
  if (location.transport === "docker") return pullIfPresent(location.ref, opts.registry);
  if (!existsSync(location.path)) return undefined;
  return readLocation(location, opts);
}

/** The entry a name and --tag pick together: either one, or both when they agree. */
function entryTag(location: ImageLocation & { tag?: string }, tag: string | undefined): string | undefined {
  if (location.tag !== undefined && tag !== undefined && location.tag !== tag) {
    throw new StrataError(
      "USAGE",
      `--tag ${tag} contradicts the tag "${location.tag}" in ${locationText(location)}`,
      {
        hint: "name the entry once, in the location or with --tag",
      },
    );
  }
  return location.tag ?? tag;
}

export interface WriteLocationOptions {
  force?: boolean;
  /** The layout's ref.name when the name carries no tag ("latest", "myapp:v1"). */
  refName: string;
  /** "name:tag" for archives when the name carries none: the oci-archive's ref.name, the docker-archive's RepoTags. */
  archiveName: string;
  /** Which image of an index to write (see platform.ts); a docker-archive holds one image. */
  platform?: string;
  registry?: PushOptions;
  /** An OCI layout only: run on it before it is in place (see WriteLayoutOptions.complete). */
  completeLayout?: (dir: string) => Promise<void>;
}

/** Writes `artifact` to `location`; a registry answers with its push report. */
export async function writeLocation(
  location: ImageLocation,
  artifact: Artifact,
  opts: WriteLocationOptions,
): Promise<PushReport | undefined> {
  const { force } = opts;
  // --platform picks one image of an index for every image location, not only for the one-image archives.
  if (opts.platform !== undefined) {
    artifact = { kind: "image", image: chooseImage(artifactImages(artifact), opts.platform, "") };
  }
  switch (location.transport) {
    case "oci":
      await writeLayout(location.path, artifact, {
        tag: location.tag ?? opts.refName,
        force,
        complete: opts.completeLayout,
      });
      return undefined;
    case "oci-archive":
      await writeOciArchive(location.path, artifact, { tag: location.tag ?? opts.archiveName, force });
      return undefined;
    case "docker-archive": {
      const image = dockerArchiveImage(artifact, opts.platform);
      await writeDockerArchive(location.path, image, {
        repoTags: [location.name ?? opts.archiveName],
        force,
      });
      return undefined;
    }
    case "docker":
      return pushArtifact(artifact, location.ref, opts.registry);
  }
}

/** The one image a docker-archive gets from `artifact`. */
export function dockerArchiveImage(artifact: Artifact, platform: string | undefined) {
  return chooseImage(artifactImages(artifact), platform, "a docker-archive holds one image");
}
