import {
  type DetailsOptions,
  type ImageDetails,
  type PackageDetails,
  readImageDetails,
} from "../inventory/details.js";
import { type Image, imageDescriptor } from "../oci/image.js";
import { platformText } from "../oci/platform.js";
import { sha256Hex } from "../util/hash.js";
import { debPurl, imagePurl } from "./purl.js";

/**
 * What both SBOM formats say, worked out once: the image they describe (by manifest digest and
 * platform), its time, and each package with its purl and the packages it depends on.
 */

export interface SbomImage {
  name: string;
  digest: string;
  platform: string;
  purl: string;
  /** The image config's `created`, to the second: the document's only timestamp. */
  created: string;
}

export interface SbomPackage extends PackageDetails {
  purl: string;
  /** The purls of the installed packages it depends on, sorted. */
  dependsOn: string[];
}

export interface SbomFacts {
  image: SbomImage;
  packages: SbomPackage[];
  os: ImageDetails["os"];
}

export const TOOL = "strata";
const TITLE_LABEL = "org.opencontainers.image.title";

/** RFC 3339 to the second in UTC, as SPDX wants it; an absent or unreadable time is the epoch. */
export function createdOf(image: Image): string {
  const time = Date.parse(image.config.created ?? "");
  return new Date(Number.isNaN(time) ? 0 : time).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * The image's name in the documents: its title label, else "image". Never where it was read from,
 * so that the same image gives the same bytes from every image location.
 */
function nameOf(image: Image): string {
  const title = image.config.config?.Labels?.[TITLE_LABEL];
  return title !== undefined && /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(title) ? title : "image";
}

/** For each AND-group of a package's needs, the first alternative installed, by name or as provided. */
function resolveDepends(
  packages: PackageDetails[],
  purls: Map<PackageDetails, string>,
): Map<PackageDetails, string[]> {
  const byName = new Map<string, PackageDetails>();
  const providers = new Map<string, PackageDetails>();
  for (const p of packages) {
    if (!byName.has(p.name)) byName.set(p.name, p);
    for (const v of p.provides ?? []) if (!providers.has(v)) providers.set(v, p);
  }
  const out = new Map<PackageDetails, string[]>();
  for (const p of packages) {
    const needs = new Set<string>();
    for (const group of p.depends ?? []) {
      const found = group.map((n) => byName.get(n) ?? providers.get(n)).find((q) => q !== undefined);
      if (found !== undefined && found !== p) needs.add(purls.get(found)!);
    }
    out.set(p, [...needs].sort());
  }
  return out;
}

export function sbomFacts(image: Image, details: ImageDetails): SbomFacts {
  const digest = imageDescriptor(image).digest;
  const name = nameOf(image);
  const purls = new Map(details.packages.map((p) => [p, debPurl(p, details.os)]));
  const depends = resolveDepends(details.packages, purls);
  return {
    image: {
      name,
      digest,
      platform: platformText(image),
      purl: imagePurl(name, digest, image.config.architecture),
      created: createdOf(image),
    },
    packages: details.packages.map((p) => ({ ...p, purl: purls.get(p)!, dependsOn: depends.get(p)! })),
    os: details.os,
  };
}

/**
 * Each image's facts worked out once for every document made of it: a build's two SBOMs and its
 * VEX document read the layers' details (from the cache) once between them.
 */
export class ImageFacts {
  private readonly known = new Map<string, Promise<SbomFacts>>();

  constructor(private readonly opts: DetailsOptions = {}) {}

  of(image: Image, where: string): Promise<SbomFacts> {
    const digest = imageDescriptor(image).digest;
    let facts = this.known.get(digest);
    if (facts === undefined) {
      facts = readImageDetails(image, where, this.opts).then((details) => sbomFacts(image, details));
      this.known.set(digest, facts);
    }
    return facts;
  }
}

/** A name-based UUID (version 5 layout) from `text`: the same image always gets the same serial. */
export function uuidFrom(text: string): string {
  const hex = sha256Hex(text).slice(0, 32).split("");
  hex[12] = "5";
  hex[16] = "89ab"[Number.parseInt(hex[16], 16) & 3];
  const h = hex.join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
