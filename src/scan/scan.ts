import { type ReleaseCoverage, releaseCoverage } from "../advisories/coverage.js";
import { type Finding, matchAdvisories, releaseOfPackages } from "../advisories/match.js";
import { repositoryEvidence } from "../advisories/repository-evidence.js";
import type { AdvisorySource } from "../advisories/source.js";
import type { FetchContext } from "../debian/release.js";
import { isStrataImage } from "../inventory/annotations.js";
import { readInventory } from "../inventory/inventory.js";
import { type Image, imageDescriptor } from "../oci/image.js";
import { checkRebuildable } from "../record/rebuildable.js";
import type { Spec } from "../spec/spec.js";
import { StrataError } from "../util/errors.js";
import { withFixes } from "./fix-hint.js";
import type { ScannedPackage } from "./report.js";

/** Why a VEX statement takes a finding out of the verdict, and whose statement it is. */
export interface VexVerdict {
  /** The VEX file, or "attached sha256:..." */
  source: string;
  status: "not_affected" | "fixed";
  justification?: string;
}

export interface SuppressedFinding extends Finding {
  vex: VexVerdict;
}

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
  /** Findings a VEX statement (a file given, or one attached to the image) says do not apply. */
  suppressed: SuppressedFinding[];
  /** Source packages whose newer changelog is trimmed above the installed version: evidence may be missing. */
  trimmed: string[];
  /** What speaks for the image's release: without coverage, no finding is "unknown", not "none". */
  coverage: ReleaseCoverage;
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

/** The suites a strata image was locked from (its build record), when it can be rebuilt from its record. */
async function lockedSuites(image: Image): Promise<string[] | undefined> {
  const rebuildability = await checkRebuildable(image);
  return rebuildability.ok
    ? rebuildability.record.lock.inputs.repositories.flatMap((r) => r.suites)
    : undefined;
}

/** Scans one image: the feeds' advisories, and with a spec the repositories' newer versions and changelogs. */
export async function scanImage(image: Image, reference: string, opts: ScanOptions): Promise<ImageScan> {
  const packages = await installedPackages(image, reference);
  const release = releaseOf(packages, opts.release, reference);
  const advisories = await opts.advisories.advisories(release, [...new Set(packages.map((p) => p.source))]);
  let available = await opts.advisories.available(packages.map((p) => p.name));
  let trimmed: string[] = [];
  const sources = await opts.advisories.coverage(release);
  if (opts.spec) {
    const arch = image.config.architecture;
    const evidence = await repositoryEvidence(opts.spec, packages, { release, arch, ctx: opts.ctx });
    advisories.push(...evidence.advisories);
    available = evidence.available;
    trimmed = evidence.trimmed;
    const { covers } = evidence;
    if (covers.release === release)
      sources.push({
        release,
        location: `changelogs:${opts.spec.path}`,
        kind: "changelog",
        suites: covers.suites,
      });
  }
  const builtByStrata = isStrataImage(image.manifest.layers);
  const fixContext = {
    location: reference,
    builtByStrata,
    lockedSuites: await lockedSuites(image),
    spec: opts.spec?.path,
  };
  return {
    reference,
    digest: imageDescriptor(image).digest,
    release,
    builtByStrata,
    packages,
    packageCount: packages.length,
    findings: withFixes(matchAdvisories(packages, advisories, available), fixContext),
    suppressed: [],
    trimmed,
    coverage: releaseCoverage(release, sources),
  };
}
