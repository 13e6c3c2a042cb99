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
import { type Home, homeText, sourceHome } from "./name.js";

/**
 * One reader and one writer for each home (see name.ts): every command that takes an image location
 * reads and writes through these two functions, so a new home is added here once.
 */

export interface ReadHomeOptions {
  /** Which entry of a layout or oci-archive, when the name carries no tag (push --tag). */
  tag?: string;
  registry?: RegistryClientOptions;
}

export async function readHome(home: Home, opts: ReadHomeOptions = {}): Promise<Artifact> {
  switch (home.transport) {
    case "oci":
      return readLayout(home.path, entryTag(home, opts.tag));
    case "oci-archive":
      return readOciArchive(home.path, entryTag(home, opts.tag));
    case "docker-archive":
      return { kind: "image", image: await readDockerArchive(home.path, home.name) };
    case "docker":
      return pullArtifact(home.ref, opts.registry);
  }
}

/** Reads the artifact at a location as a user names it (any home; a bare path is a layout or an archive by its contents). */
export async function readArtifact(location: string, opts: ReadHomeOptions = {}): Promise<Artifact> {
  return readHome(await sourceHome(location, archiveKind), opts);
}

/** The artifact at `home`, or undefined when there is none yet (no such tag, file or directory). */
export async function readHomeIfPresent(
  home: Home,
  opts: ReadHomeOptions = {},
): Promise<Artifact | undefined> {
  if (home.transport === "docker") return pullIfPresent(home.ref, opts.registry);
  if (!existsSync(home.path)) return undefined;
  return readHome(home, opts);
}

/** The entry a name and --tag pick together: either one, or both when they agree. */
function entryTag(home: Home & { tag?: string }, tag: string | undefined): string | undefined {
  if (home.tag !== undefined && tag !== undefined && home.tag !== tag) {
    throw new StrataError("USAGE", `--tag ${tag} contradicts the tag "${home.tag}" in ${homeText(home)}`, {
      hint: "name the entry once, in the location or with --tag",
    });
  }
  return home.tag ?? tag;
}

export interface WriteHomeOptions {
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

/** Writes `artifact` to `home`; a registry answers with its push report. */
export async function writeHome(
  home: Home,
  artifact: Artifact,
  opts: WriteHomeOptions,
): Promise<PushReport | undefined> {
  const { force } = opts;
  // --platform picks one image of an index for every home, not only for the one-image archives.
  if (opts.platform !== undefined) {
    artifact = { kind: "image", image: chooseImage(artifactImages(artifact), opts.platform, "") };
  }
  switch (home.transport) {
    case "oci":
      await writeLayout(home.path, artifact, {
        tag: home.tag ?? opts.refName,
        force,
        complete: opts.completeLayout,
      });
      return undefined;
    case "oci-archive":
      await writeOciArchive(home.path, artifact, { tag: home.tag ?? opts.archiveName, force });
      return undefined;
    case "docker-archive": {
      const image = dockerArchiveImage(artifact, opts.platform);
      await writeDockerArchive(home.path, image, { repoTags: [home.name ?? opts.archiveName], force });
      return undefined;
    }
    case "docker":
      return pushArtifact(artifact, home.ref, opts.registry);
  }
}

/** The one image a docker-archive gets from `artifact`. */
export function dockerArchiveImage(artifact: Artifact, platform: string | undefined) {
  return chooseImage(artifactImages(artifact), platform, "a docker-archive holds one image");
}
