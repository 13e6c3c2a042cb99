import { hostDebianArch } from "../debian/sources.js";
import { archiveKind } from "../oci/homes/docker-archive.js";
import { readHome } from "../oci/homes/homes.js";
import { sourceHome } from "../oci/homes/name.js";
import { artifactDescriptor, artifactImages } from "../oci/image.js";
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
  const home = await sourceHome(location, archiveKind);
  if (home.transport !== "docker") {
    throw new StrataError(
      "USAGE",
      `${location}: a cluster pulls from a registry, and this is a local image`,
      {
        hint: "push it first (strata push SRC REGISTRY/REPO:TAG) and name it there",
      },
    );
  }
  const artifact = await readHome(home, { registry: opts.registry });
  const images = artifactImages(artifact);
  const image =
    artifact.kind === "image" ? images[0] : chooseImage(images, opts.platform ?? hostDebianArch(), "");
  const user = await numericUser(image, location);
  const { registry, repository } = home.ref;
  return jobManifest({
    ...opts,
    image: `${registry}/${repository}@${artifactDescriptor(artifact).digest}`,
    user,
  });
}
