import { hostDebianArch } from "../debian/sources.js";
import { artifactDescriptor, artifactImages } from "../oci/image.js";
import { archiveKind } from "../oci/locations/docker-archive.js";
import { readLocation } from "../oci/locations/locations.js";
import { sourceLocation } from "../oci/locations/name.js";
import { chooseImage } from "../oci/platform.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { StrataError } from "../util/errors.js";
import { numericUser } from "./image-passwd.js";
import { type JobManifestOptions, jobManifest } from "./job-manifest.js";

/**
 * The Job (or CronJob) of an image in a registry: a tag is resolved to the digest of what it names
 * (an index stays an index, so each node pulls its own platform), and the user is read from the
 * image of `platform` (default: the host's).
 */
export async function imageJobManifest(
  location: string,
  opts: Omit<JobManifestOptions, "image" | "user"> & { platform?: string; registry?: RegistryClientOptions },
) {
  const imageLocation = await sourceLocation(location, archiveKind);
  if (imageLocation.transport !== "docker") {
    throw new StrataError(
      "USAGE",
      `${location}: a cluster pulls from a registry, and this is a local image`,
      {
        hint: "push it first (strata push SRC REGISTRY/REPO:TAG) and name it there",
      },
    );
  }
  const artifact = await readLocation(imageLocation, { registry: opts.registry });
  const images = artifactImages(artifact);
  const image =
    artifact.kind === "image" ? images[0] : chooseImage(images, opts.platform ?? hostDebianArch(), "");
  const user = await numericUser(image, location);
  const { registry, repository } = imageLocation.ref;
  return jobManifest({
    ...opts,
    image: `${registry}/${repository}@${artifactDescriptor(artifact).digest}`,
    user,
  });
}
