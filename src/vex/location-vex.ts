import { artifactImages } from "../oci/image.js";
import { archiveKind } from "../oci/locations/docker-archive.js";
import { readLocation } from "../oci/locations/locations.js";
import { sourceLocation } from "../oci/locations/name.js";
import { chooseImage } from "../oci/platform.js";
import { type ScanSources, withAdvisories } from "../scan/advisory-sources.js";
import { loadSpec } from "../spec/spec.js";
import { assertVexAttachable, attachVex, type VexAttachReport } from "./attach.js";
import { type VexDocument, vexBytes } from "./document.js";
import { vexForImage } from "./vex-image.js";

export interface LocationVexOptions extends ScanSources {
  /** The image of an index it describes. */
  platform?: string;
  /** The document's timestamp (RFC 3339, checked). */
  timestamp?: string;
  /** Attach it to the image (a layout or a registry) as a referrer. */
  attach?: boolean;
}

export interface LocationVex {
  doc: VexDocument;
  bytes: Buffer;
  attached?: VexAttachReport;
}

/**
 * `strata vex`: the OpenVEX document of the image at a location (one platform of an index), attached
 * there if asked; undefined when strata can state nothing about its vulnerabilities.
 */
export async function locationVex(
  location: string,
  opts: LocationVexOptions,
): Promise<LocationVex | undefined> {
  const imageLocation = await sourceLocation(location, archiveKind);
  if (opts.attach) assertVexAttachable(imageLocation);
  const images = artifactImages(await readLocation(imageLocation, { registry: opts.registry }));
  const image = chooseImage(images, opts.platform, `${location}: a VEX document describes one image`);
  const spec = opts.spec ? await loadSpec(opts.spec, { mirror: opts.mirror }) : undefined;
  const ctx = { cacheRoot: opts.cacheDir };
  const doc = await withAdvisories(opts, (advisories) =>
    vexForImage(image, location, {
      advisories,
      spec,
      release: opts.release,
      timestamp: opts.timestamp,
      ctx,
      mirror: opts.mirror,
    }),
  );
  if (doc === undefined) return undefined;
  const bytes = vexBytes(doc);
  if (!opts.attach) return { doc, bytes };
  return { doc, bytes, attached: await attachVex(imageLocation, image, bytes, opts.registry) };
}
