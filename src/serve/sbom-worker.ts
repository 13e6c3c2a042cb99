import type { IndexedRef } from "../fleet/lookups.js";
import { artifactImages, type Image, imageDescriptor } from "../oci/image.js";
import { readLocation } from "../oci/locations/locations.js";
import { type ImageLocation, locationText, parseLocationName } from "../oci/locations/name.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { attachedSbom } from "../sbom/attach.js";
import { attachedSbomDisagreement } from "../sbom/attached-check.js";
import { computeSboms, type SbomFormat } from "../sbom/sbom.js";
import { answerWorkerCall } from "../util/worker.js";

/** Worker thread body: one indexed image's SBOM, attached or computed (see image-sbom.ts). */

export interface SbomJob {
  refs: IndexedRef[];
  digest: string;
  format: SbomFormat;
  registry?: RegistryClientOptions;
}

export interface ImageSbom {
  bytes: Buffer;
  /** Where the image was read, as an image location's name. */
  from: string;
  attached: boolean;
  /** Why the attached document was not served (it disagrees with the image's record). */
  rejected?: string;
}

/** The SBOM, or why no place the index names could give it. */
export type SbomJobResult = { sbom: ImageSbom } | { unreachable: string };

/** The image location an indexed ref names; a registry image is pinned by its digest, so a moved tag cannot mislead. */
function locationOfRef(ref: IndexedRef, digest: string): ImageLocation | undefined {
  try {
    if (ref.registry !== "") return parseLocationName(`docker://${ref.registry}/${ref.repository}@${digest}`);
    return parseLocationName(ref.tag === "" ? ref.repository : `${ref.repository}:${ref.tag}`);
  } catch {
    return undefined; // an index row strata cannot name as an image location is not a place to read from
  }
}

async function imageAt(
  location: ImageLocation,
  digest: string,
  registry?: RegistryClientOptions,
): Promise<Image> {
  const image = artifactImages(await readLocation(location, { registry })).find(
    (i) => imageDescriptor(i).digest === digest,
  );
  if (image === undefined) throw new Error(`${locationText(location)} no longer holds ${digest}`);
  return image;
}

async function sbomAt(
  location: ImageLocation,
  digest: string,
  format: SbomFormat,
  registry: RegistryClientOptions | undefined,
): Promise<ImageSbom> {
  const image = await imageAt(location, digest, registry);
  const from = locationText(location);
  const attached = await attachedSbom(location, image, format, { registry });
  // An attached document that disagrees with the image's own record is not served as its SBOM.
  const wrong = attached && (await attachedSbomDisagreement(image, attached.bytes, format, from));
  if (attached !== undefined && !wrong) return { bytes: attached.bytes, from, attached: true };
  const bytes = (await computeSboms(image, [format], from)).get(format)!;
  return { bytes, from, attached: false, ...(wrong ? { rejected: wrong } : {}) };
}

async function firstSbom({ refs, digest, format, registry }: SbomJob): Promise<SbomJobResult> {
  const failures: string[] = [];
  // Local image locations first: they are read without the network.
  const ordered = [...refs].sort((a, b) => Number(a.registry !== "") - Number(b.registry !== ""));
  for (const ref of ordered) {
    const location = locationOfRef(ref, digest);
    if (location === undefined) continue;
    try {
      return { sbom: await sbomAt(location, digest, format, registry) };
    } catch (err) {
      failures.push((err as Error).message.split("\n")[0]);
    }
  }
  const why = failures.length === 0 ? "the index names no place it lives" : failures.join("; ");
  return { unreachable: `cannot read ${digest} for its SBOM: ${why}` };
}

answerWorkerCall(firstSbom);
