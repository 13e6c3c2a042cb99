import type { KeyObject } from "node:crypto";
import { artifactImages, type Image } from "../oci/image.js";
import { archiveKind } from "../oci/locations/docker-archive.js";
import { readLocation } from "../oci/locations/locations.js";
import { type ImageLocation, locationText, sourceLocation } from "../oci/locations/name.js";
import { chooseImage } from "../oci/platform.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { attestSboms } from "../sign/attestations.js";
import { assertSignable } from "../sign/sign-image.js";
import { type AttachReport, attachedSbom, attachSboms } from "./attach.js";
import { attachedSbomDisagreement } from "./attached-check.js";
import { computeSboms, type SbomFormat } from "./sbom.js";
import { ImageFacts } from "./subject.js";

export interface ImageSbomOptions {
  cacheRoot: string;
  registry?: RegistryClientOptions;
  /** What was found, attached or attested, and an attached SBOM not used. */
  onNote?: (message: string) => void;
}

/**
 * The `format` SBOM of `image` at `location`: the one attached to it when `attached` and it agrees with
 * the image (one that does not is noted and not used), else computed from its layers.
 */
export async function imageSbom(
  location: ImageLocation,
  image: Image,
  format: SbomFormat,
  opts: ImageSbomOptions & { attached: boolean },
): Promise<Buffer> {
  const found = opts.attached
    ? await attachedSbom(location, image, format, { registry: opts.registry })
    : undefined;
  if (found !== undefined) {
    const wrong = await attachedSbomDisagreement(image, found.bytes, format, locationText(location));
    if (!wrong) {
      opts.onNote?.(`the ${format} SBOM attached to ${locationText(location)} (${found.digest})`);
      return found.bytes;
    }
    opts.onNote?.(
      `warning: the ${format} SBOM attached to ${locationText(location)} (${found.digest}) ${wrong}: not used; computed from the image instead`,
    );
  }
  const facts = new ImageFacts({ cacheRoot: opts.cacheRoot });
  return (await computeSboms(image, [format], locationText(location), facts)).get(format)!;
}

/** Both formats attached to `image` where `location` keeps it, and with `key` each attested (signed in-toto). */
export async function attachImageSboms(
  location: ImageLocation,
  image: Image,
  key: KeyObject | undefined,
  opts: ImageSbomOptions,
): Promise<AttachReport[]> {
  const registry = opts.registry ?? {};
  const facts = new ImageFacts({ cacheRoot: opts.cacheRoot });
  const reports = await attachSboms(location, { kind: "image", image }, { registry, facts });
  for (const r of reports)
    opts.onNote?.(`attached ${r.format} SBOM ${r.digest} to ${r.platform} ${r.subject} (${r.via})`);
  if (key) {
    assertSignable(location);
    for (const a of await attestSboms(location, { kind: "image", image }, reports, key, registry))
      opts.onNote?.(`attested the ${a.format} SBOM of ${a.subject} (${a.via})`);
  }
  return reports;
}

export interface LocationSbomOptions extends ImageSbomOptions {
  format: SbomFormat;
  /** The image of an index it describes. */
  platform?: string;
  /** Attach the SBOMs to the image (attested with `key`) rather than only making one. */
  attach?: boolean;
  key?: KeyObject;
  /** Take the SBOM attached to the image when it agrees with the image. */
  attached: boolean;
}

/** `strata sbom`: the `format` SBOM of the image at a location (one platform of an index), attached there if asked. */
export async function locationSbom(location: string, opts: LocationSbomOptions): Promise<Buffer> {
  const imageLocation = await sourceLocation(location, archiveKind);
  const artifact = await readLocation(imageLocation, { registry: opts.registry });
  const image = chooseImage(
    artifactImages(artifact),
    opts.platform,
    `${location}: an SBOM describes one image`,
  );
  if (!opts.attach) return imageSbom(imageLocation, image, opts.format, opts);
  const reports = await attachImageSboms(imageLocation, image, opts.key, opts);
  return reports.find((r) => r.format === opts.format)!.bytes;
}
