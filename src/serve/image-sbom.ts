import type { IndexedRef } from "../fleet/lookups.js";
import { readHome } from "../oci/homes/homes.js";
import { type Home, homeText, parseHomeName } from "../oci/homes/name.js";
import { artifactImages, type Image, imageDescriptor } from "../oci/image.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { attachedSbom } from "../sbom/attach.js";
import { attachedSbomDisagreement } from "../sbom/attached-check.js";
import { computeSboms, type SbomFormat } from "../sbom/sbom.js";
import { StrataError } from "../util/errors.js";

/**
 * An indexed image's SBOM for the page: the one attached where the image lives, else computed from
 * its layers. The index holds no layers, so the image is read from where its refs say it lives: a
 * registry (registry/repository@digest) or a local home (repository is transport:path).
 */

/** The image could not be read from any place the index names (the API answers 502, or 504 on timeout). */
export class ImageUnreachable extends StrataError {
  constructor(
    message: string,
    readonly timedOut: boolean,
  ) {
    super("NETWORK", message, {
      hint: "check that the registry or path the index names still holds the image (strata index sync)",
    });
  }
}

export interface SbomOptions {
  /** The most milliseconds one SBOM may take, attached or computed. */
  timeoutMs: number;
  registry?: RegistryClientOptions;
}

export interface ImageSbom {
  bytes: Buffer;
  /** Where the image was read, as a home name. */
  from: string;
  attached: boolean;
  /** Why the attached document was not served (it disagrees with the image's record). */
  rejected?: string;
}

/** The home an indexed ref names; a registry image is pinned by its digest, so a moved tag cannot mislead. */
function homeOfRef(ref: IndexedRef, digest: string): Home | undefined {
  try {
    if (ref.registry !== "") return parseHomeName(`docker://${ref.registry}/${ref.repository}@${digest}`);
    return parseHomeName(ref.tag === "" ? ref.repository : `${ref.repository}:${ref.tag}`);
  } catch {
    return undefined; // an index row strata cannot name as a home is not a place to read from
  }
}

async function imageAt(home: Home, digest: string, registry?: RegistryClientOptions): Promise<Image> {
  const image = artifactImages(await readHome(home, { registry })).find(
    (i) => imageDescriptor(i).digest === digest,
  );
  if (image === undefined) throw new Error(`${homeText(home)} no longer holds ${digest}`);
  return image;
}

async function sbomAt(home: Home, digest: string, format: SbomFormat, opts: SbomOptions): Promise<ImageSbom> {
  const image = await imageAt(home, digest, opts.registry);
  const from = homeText(home);
  const attached = await attachedSbom(home, image, format, { registry: opts.registry });
  // An attached document that disagrees with the image's own record is not served as its SBOM.
  const wrong = attached && (await attachedSbomDisagreement(image, attached.bytes, format, from));
  if (attached !== undefined && !wrong) return { bytes: attached.bytes, from, attached: true };
  const bytes = (await computeSboms(image, [format], from)).get(format)!;
  return { bytes, from, attached: false, ...(wrong ? { rejected: wrong } : {}) };
}

async function firstSbom(refs: IndexedRef[], digest: string, format: SbomFormat, opts: SbomOptions) {
  const failures: string[] = [];
  // Local homes first: they are read without the network.
  const ordered = [...refs].sort((a, b) => Number(a.registry !== "") - Number(b.registry !== ""));
  for (const ref of ordered) {
    const home = homeOfRef(ref, digest);
    if (home === undefined) continue;
    try {
      return await sbomAt(home, digest, format, opts);
    } catch (err) {
      failures.push((err as Error).message.split("\n")[0]);
    }
  }
  const why = failures.length === 0 ? "the index names no place it lives" : failures.join("; ");
  throw new ImageUnreachable(`cannot read ${digest} for its SBOM: ${why}`, false);
}

/** The SBOM of the indexed image `digest`, read from the first of its refs that holds it, within the timeout. */
export async function indexedImageSbom(
  refs: IndexedRef[],
  digest: string,
  format: SbomFormat,
  opts: SbomOptions,
): Promise<ImageSbom> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new ImageUnreachable(`reading ${digest} for its SBOM took over ${opts.timeoutMs} ms`, true)),
      opts.timeoutMs,
    );
  });
  try {
    return await Promise.race([firstSbom(refs, digest, format, opts), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
