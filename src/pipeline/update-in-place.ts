import type { KeyObject } from "node:crypto";
import { lockPathFor, writeLock } from "../lock/lock.js";
import type { UpdateTargets } from "../lock/update.js";
import { archiveKind } from "../oci/locations/docker-archive.js";
import { readLocation } from "../oci/locations/locations.js";
import {
  type ImageLocation,
  type LocalTransport,
  locationText,
  outputLocation,
  referenceLocation,
  sourceLocation,
} from "../oci/locations/name.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import type { PushReport } from "../oci/registry/push.js";
import { assertSignable, type SignReport, signImage } from "../sign/sign-image.js";
import { loadSpec } from "../spec/spec.js";
import { StrataError } from "../util/errors.js";
import { DEFAULT_NAMES, type PushWatcher, writeArtifact } from "./deliver.js";
import { type ImageUpdate, updateImage } from "./update.js";

/** Where `strata update` was told to write: -o (with --format), --push, or nowhere (in place). */
export interface UpdateDestinationFlags {
  output?: string;
  format?: LocalTransport;
  push?: string;
  force?: boolean;
}

/** The image to update, and where the updated image goes: -o, --push, or back where it was. */
export async function updateLocations(
  imageText: string,
  flags: UpdateDestinationFlags,
): Promise<{ image: ImageLocation; destination: ImageLocation }> {
  const image = await sourceLocation(imageText, archiveKind);
  return { image, destination: destinationOf(image, flags) };
}

/** In place is a registry tag, or a local image with --force; -o and --push are one destination each. */
function destinationOf(image: ImageLocation, flags: UpdateDestinationFlags): ImageLocation {
  if (flags.output !== undefined && flags.push !== undefined)
    throw new StrataError("USAGE", "-o and --push contradict each other", { hint: "pick one destination" });
  if (flags.output !== undefined) return outputLocation(flags.output, flags.format);
  if (flags.push !== undefined) return referenceLocation(flags.push);
  if (image.transport === "docker" && image.ref.tag === undefined)
    throw new StrataError(
      "USAGE",
      `${locationText(image)} names a digest, which cannot point at another image`,
      {
        hint: "push the update under a tag with --push REF",
      },
    );
  if (image.transport !== "docker" && !flags.force)
    throw new StrataError(
      "OUTPUT_EXISTS",
      `${locationText(image)} is local: updating it in place replaces it`,
      {
        hint: "pass --force to replace it, or write the update elsewhere with -o DEST",
      },
    );
  return image;
}

export interface UpdateRequest {
  image: ImageLocation;
  destination: ImageLocation;
  targets: UpdateTargets;
  /** The spec whose repositories resolve the update, and whose lock follows the image. */
  specPath?: string;
  force?: boolean;
  verify?: boolean;
  key?: KeyObject;
  cacheDir?: string;
  mirror?: string;
  jobs?: number;
  registry: RegistryClientOptions;
}

export interface UpdateWatcher extends PushWatcher {
  /** Written to an image location that is not a registry. */
  onWritten: (location: ImageLocation) => void;
  onSigned: (report: SignReport) => void;
}

export interface UpdateDelivered {
  update: ImageUpdate;
  push?: PushReport;
  /** The packages downloaded for it (NAME=VERSION). */
  downloaded: string[];
  /** The lock written beside --spec. */
  lockPath?: string;
}

/**
 * `strata update`: the image's packages swapped, the result written to its destination, signed
 * anew, and the spec's lock rewritten to match (only once the image is written).
 */
export async function updateInPlace(req: UpdateRequest, watch: UpdateWatcher): Promise<UpdateDelivered> {
  if (req.key) assertSignable(req.destination);
  const spec = req.specPath === undefined ? undefined : await loadSpec(req.specPath, { mirror: req.mirror });
  const old = await readLocation(req.image, { registry: req.registry });
  const downloaded: string[] = [];
  const update = await updateImage(old, locationText(req.image), spec, req.targets, {
    cacheRoot: req.cacheDir,
    jobs: req.jobs,
    mirror: req.mirror,
    verify: req.verify,
    onEvent: (e) => {
      if (e.kind === "fetched" && !e.cached) downloaded.push(`${e.pkg.name}=${e.pkg.version}`);
    },
  });
  if (!update.build) return { update, downloaded };
  const { destination } = req;
  const names = { ...DEFAULT_NAMES, force: req.force || destination === req.image };
  const delivery = { ...watch, registry: req.registry, jobs: req.jobs };
  const push = await writeArtifact(destination, update.build.artifact, names, delivery);
  if (destination.transport !== "docker") watch.onWritten(destination);
  // The new digest is what pods will pull: it is signed anew (the old digest's signature stays with it).
  if (req.key)
    watch.onSigned(
      await signImage(destination, req.key, { artifact: update.build.artifact, registry: req.registry }),
    );
  if (!spec) return { update, push, downloaded };
  await writeLock(lockPathFor(spec), update.lock, { cacheRoot: req.cacheDir });
  return { update, push, downloaded, lockPath: lockPathFor(spec) };
}
