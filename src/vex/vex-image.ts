import type { Advisory } from "../advisories/advisory.js";
import { releaseOfPackages } from "../advisories/match.js";
import { repositoryEvidence } from "../advisories/repository-evidence.js";
import { type AdvisorySource, memoryAdvisories } from "../advisories/source.js";
import type { FetchContext } from "../debian/release.js";
import { type Artifact, artifactImages, type Image } from "../oci/image.js";
import { type ImageLocation, locationText } from "../oci/locations/name.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { createdOf, ImageFacts } from "../sbom/subject.js";
import type { Spec } from "../spec/spec.js";
import { cacheRoot } from "../util/dirs.js";
import { StrataError } from "../util/errors.js";
import { attachVex, type VexAttachReport } from "./attach.js";
import { type VexDocument, vexBytes, vexDocument } from "./document.js";
import { installedChangelogs } from "./installed-changelogs.js";
import { type VexPackage, vexStatements } from "./statements.js";

export interface VexOptions {
  /** The feeds' advisories (the index, --advisories files). */
  advisories: AdvisorySource;
  /** Repositories whose newer .debs' changelogs say what is still vulnerable. */
  spec?: Spec;
  /** The Debian release's codename, when the image's base-files does not say. */
  release?: string;
  /** The document's time (RFC 3339); default: the image's creation time. */
  timestamp?: string;
  ctx?: FetchContext;
  mirror?: string;
  /** false: no .deb is read for changelogs, only what the cache holds (a build's). */
  fetch?: boolean;
  /** The image's facts, when its SBOMs are made from them too. */
  facts?: ImageFacts;
  /**
   * false: the document is not checked against OpenVEX's schema (a build's: the statements' shapes
   * are the same whatever the image, and the VEX tests check them; `strata vex` checks each one).
   */
  validate?: boolean;
}

async function advisoriesOf(packages: VexPackage[], release: string, arch: string, opts: VexOptions) {
  const advisories: Advisory[] = await opts.advisories.advisories(release, [
    ...new Set(packages.map((p) => p.source)),
  ]);
  if (opts.spec) {
    const evidence = await repositoryEvidence(opts.spec, packages, { release, arch, ctx: opts.ctx });
    advisories.push(...evidence.advisories);
  }
  return advisories;
}

/**
 * The OpenVEX document of what strata can justify about `image` (see statements.ts), or undefined
 * when it can state nothing (OpenVEX wants at least one statement). `strata vex` and a build call it.
 */
export async function vexForImage(
  image: Image,
  where: string,
  opts: VexOptions,
): Promise<VexDocument | undefined> {
  // The layers' SBOM details, kept per layer digest under the cache root like an SBOM's.
  const imageFacts = opts.facts ?? new ImageFacts({ cacheRoot: cacheRoot(opts.ctx?.cacheRoot) });
  const facts = await imageFacts.of(image, where);
  const packages: VexPackage[] = facts.packages.map((p) => ({
    name: p.name,
    version: p.version,
    source: p.source ?? p.name,
    sourceVersion: p.sourceVersion ?? p.version,
    purl: p.purl,
  }));
  const release = opts.release ?? releaseOfPackages(packages);
  const arch = image.config.architecture;
  const statements = vexStatements({
    imagePurl: facts.image.purl,
    packages,
    advisories: release === undefined ? [] : await advisoriesOf(packages, release, arch, opts),
    changelogs: await installedChangelogs(image, where, {
      ctx: opts.ctx,
      mirror: opts.mirror,
      fetch: opts.fetch,
    }),
  });
  if (statements.length === 0) return undefined;
  const doc = vexDocument(statements, opts.timestamp ?? createdOf(image));
  // The schema's validator (ajv) is loaded only when a document is checked.
  const invalid =
    opts.validate === false ? undefined : (await import("./schema.js")).openVexSchemaErrors(doc);
  // strata's own document failing OpenVEX's schema is a bug, not the user's input.
  if (invalid !== undefined)
    throw new StrataError(
      "VEX_INVALID",
      `${where}: the VEX document strata made is not OpenVEX: ${invalid}`,
      {
        hint: "this is a strata bug: report it with the image",
      },
    );
  return doc;
}

/**
 * A build's VEX: for each image of `artifact`, what the changelogs the build's layer worker kept
 * in the cache justify (no .deb is read, no feed is asked: `strata vex` adds those), attached where
 * `location` keeps it beside the SBOMs. An image strata can state nothing about gets no document.
 */
export async function attachBuiltVex(
  location: ImageLocation,
  artifact: Artifact,
  opts: { cacheRoot: string; registry?: RegistryClientOptions; facts?: ImageFacts },
): Promise<VexAttachReport[]> {
  const reports: VexAttachReport[] = [];
  for (const image of artifactImages(artifact)) {
    const doc = await vexForImage(image, locationText(location), {
      advisories: memoryAdvisories([]),
      ctx: { cacheRoot: opts.cacheRoot },
      fetch: false,
      facts: opts.facts,
      validate: false,
    });
    if (doc !== undefined) reports.push(await attachVex(location, image, vexBytes(doc), opts.registry));
  }
  return reports;
}
