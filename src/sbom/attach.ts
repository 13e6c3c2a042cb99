import { type AttachVia, assertAttachable, attachedPayloads, withAttacher } from "../oci/attached.js";
import { type Artifact, artifactImages, type Image, imageDescriptor } from "../oci/image.js";
import { type ImageLocation, locationText } from "../oci/locations/name.js";
import { platformText } from "../oci/platform.js";
import { referrerOf } from "../oci/referrers.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { Annotation, type Descriptor } from "../oci/types.js";
import { StrataError } from "../util/errors.js";
import { computeSboms, MAX_SBOM_BYTES, SBOM_FORMATS, SBOM_MEDIA_TYPES, type SbomFormat } from "./sbom.js";
import { createdOf, type ImageFacts } from "./subject.js";

/**
 * SBOMs attached to each platform image as OCI 1.1 artifacts: in an OCI layout (index.json
 * entries) or a registry (referrers API, else the `sha256-<hex>` tag fallback); and the attached
 * SBOM read back, so that `strata sbom` returns it before computing one.
 */

/** Marks a referrer as strata's SBOM of one format: a new one replaces it in a fallback index. */
const FORMAT_ANNOTATION = "dev.strata.sbom.format";

export interface AttachReport {
  platform: string;
  /** The platform image manifest the SBOM is attached to. */
  subject: string;
  format: SbomFormat;
  /** The artifact manifest's digest. */
  digest: string;
  /** "layout", or for a registry "referrers-api" or "tag-fallback". */
  via: AttachVia;
  /** The SBOM itself. */
  bytes: Buffer;
}

/** Computes each SBOM format of every image of `artifact` and attaches them where `location` keeps it. */
export async function attachSboms(
  location: ImageLocation,
  artifact: Artifact,
  opts: { registry?: RegistryClientOptions; formats?: readonly SbomFormat[]; facts?: ImageFacts } = {},
): Promise<AttachReport[]> {
  assertAttachable(
    location,
    "SBOMs are attached",
    "attach to oci:DIR or docker://REGISTRY/REPO; archives have no place for referrers",
  );
  const reports: AttachReport[] = [];
  await withAttacher(location, opts.registry ?? {}, async (attach) => {
    for (const image of artifactImages(artifact)) {
      const subject = imageDescriptor(image);
      const annotations = (format: SbomFormat) => ({
        [Annotation.created]: createdOf(image),
        [FORMAT_ANNOTATION]: format,
      });
      const formats = opts.formats ?? SBOM_FORMATS;
      for (const [format, bytes] of await computeSboms(image, formats, locationText(location), opts.facts)) {
        const payload = { bytes, title: `sbom.${format}.json` };
        const referrer = referrerOf(subject, SBOM_MEDIA_TYPES[format], payload, annotations(format));
        const sameKind = (d: Descriptor) => d.annotations?.[FORMAT_ANNOTATION] === format;
        const via = await attach(referrer, sameKind);
        const platform = platformText(image);
        reports.push({
          platform,
          subject: subject.digest,
          format,
          digest: referrer.descriptor.digest,
          via,
          bytes,
        });
      }
    }
  });
  return reports;
}

/** Checks that an attached SBOM is a JSON document of its format before it is handed on. */
function checkedSbom(bytes: Buffer, format: SbomFormat, where: string): Buffer {
  let doc: { spdxVersion?: unknown; bomFormat?: unknown } | null = null;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    // reported below
  }
  const ok = format === "spdx" ? typeof doc?.spdxVersion === "string" : doc?.bomFormat === "CycloneDX";
  if (!ok)
    throw new StrataError("IO", `${where}: the attached ${format} SBOM is not a ${format} JSON document`);
  return bytes;
}

/** The SBOM of `format` attached to `image` where `location` keeps it (the latest one), or undefined. */
export async function attachedSbom(
  location: ImageLocation,
  image: Image,
  format: SbomFormat,
  opts: { registry?: RegistryClientOptions } = {},
): Promise<{ bytes: Buffer; digest: string } | undefined> {
  const subject = imageDescriptor(image).digest;
  const limits = { max: MAX_SBOM_BYTES, count: 1 };
  const [found] = await attachedPayloads(location, subject, SBOM_MEDIA_TYPES[format], limits, opts.registry);
  return found && { bytes: checkedSbom(found.bytes, format, locationText(location)), digest: found.digest };
}
