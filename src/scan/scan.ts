import { type Finding, matchAdvisories, releaseOfPackages } from "../advisories/match.js";
import { repositoryEvidence } from "../advisories/repository-evidence.js";
import type { AdvisorySource } from "../advisories/source.js";
import type { FetchContext } from "../debian/release.js";
import { isStrataImage } from "../inventory/annotations.js";
import { readInventory } from "../inventory/inventory.js";
import { type Image, imageDescriptor } from "../oci/image.js";
import type { Spec } from "../spec/spec.js";
import { StrataError } from "../util/errors.js";
import type { ScannedPackage } from "./report.js";

/** One image's scan: its packages and what is known against them. */
export interface ImageScan {
  reference: string;
  digest: string;
  release: string;
  builtByStrata: boolean;
  /** The packages, when the image was read (a fleet scan reads only the index: then none). */
  packages: ScannedPackage[];
  packageCount: number;
  findings: Finding[];
  /** Source packages whose newer changelog is trimmed above the installed version: evidence may be missing. */
  trimmed: string[];
  /** A fleet scan's image that no tag names any more (`scan --fleet --all`). */
  superseded?: boolean;
}

export interface ScanOptions {
  /** Advisories from the feeds (the index database, feed files). */
  advisories: AdvisorySource;
  /** The repositories to ask for newer versions and changelog evidence. */
  spec?: Spec;
  /** The Debian release's codename, when the image's base-files does not say. */
  release?: string;
  ctx?: FetchContext;
}

/** The image's installed packages, with their sources (read from status.d where annotations lack them). */
async function installedPackages(image: Image, where: string): Promise<ScannedPackage[]> {
  const inventory = await readInventory(image, where, { complete: () => true });
  return inventory.packages.map((p) => ({
    name: p.name,
    version: p.version,
    architecture: p.architecture,
    source: p.source ?? p.name,
    sourceVersion: p.sourceVersion ?? p.version,
  }));
}

function releaseOf(packages: ScannedPackage[], given: string | undefined, where: string): string {
  const release = given ?? releaseOfPackages(packages);
  if (release === undefined) {
    throw new StrataError("USAGE", `${where}: cannot tell the Debian release (the image has no base-files)`, {
      hint: "name it with --release, e.g. --release bookworm",
    });
  }
  return release;
}

/** Scans one image: the feeds' advisories, and with a spec the repositories' newer versions and changelogs. */
export async function scanImage(image: Image, reference: string, opts: ScanOptions): Promise<ImageScan> {
  const packages = await installedPackages(image, reference);
  const release = releaseOf(packages, opts.release, reference);
  const advisories = await opts.advisories.advisories(release, [...new Set(packages.map((p) => p.source))]);
  let available = await opts.advisories.available(packages.map((p) => p.name));
  let trimmed: string[] = [];
  if (opts.spec) {
    const arch = image.config.architecture;
    const evidence = await repositoryEvidence(opts.spec, packages, { release, arch, ctx: opts.ctx });
    advisories.push(...evidence.advisories);
    available = evidence.available;
    trimmed = evidence.trimmed;
  }
  return {
    reference,
    digest: imageDescriptor(image).digest,
    release,
    builtByStrata: isStrataImage(image.manifest.layers),
    packages,
    packageCount: packages.length,
    findings: matchAdvisories(packages, advisories, available),
    trimmed,
  };
}
