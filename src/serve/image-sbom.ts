import type { IndexedRef } from "../fleet/lookups.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import type { SbomFormat } from "../sbom/sbom.js";
import { Limiter } from "../util/concurrency.js";
import { StrataError } from "../util/errors.js";
import { callWorker } from "../util/worker.js";
import type { ImageSbom, SbomJob, SbomJobResult } from "./sbom-worker.js";

export type { ImageSbom };

/**
 * An indexed image's SBOM for the page: the one attached where the image lives, else computed from
 * its layers. The index holds no layers, so the image is read from where its refs say it lives: a
 * registry (registry/repository@digest) or a local image location (repository is transport:path).
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

/**
 * SBOMs read or computed at once: each on a worker of its own (a hostile layer or copyright file
 * costs that worker's CPU, never the server's event loop), the rest waiting their turn.
 */
const SBOM_WORKERS = new Limiter(2);
const SBOM_WORKER_HEAP_MB = 512;

/**
 * The SBOM of the indexed image `digest`, read from the first of its refs that holds it. The
 * deadline counts from the call, waiting included, and holds: a worker past it is terminated.
 */
export async function indexedImageSbom(
  refs: IndexedRef[],
  digest: string,
  format: SbomFormat,
  opts: SbomOptions,
): Promise<ImageSbom> {
  const deadline = Date.now() + opts.timeoutMs;
  const late = () =>
    new ImageUnreachable(`reading ${digest} for its SBOM took over ${opts.timeoutMs} ms`, true);
  const job: SbomJob = { refs, digest, format, registry: opts.registry };
  const work = SBOM_WORKERS.run(async () => {
    // A call whose time ran out while it waited starts no worker.
    if (Date.now() >= deadline) throw late();
    return callWorker<SbomJobResult>(import.meta.url, "sbom-worker", job, {
      deadlineMs: deadline - Date.now(),
      onDeadline: late,
      heapMb: SBOM_WORKER_HEAP_MB,
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), opts.timeoutMs);
  });
  work.catch(() => {}); // answered by the race below, or past it
  const result = await Promise.race([work, expired]).finally(() => clearTimeout(timer));
  if ("unreachable" in result) throw new ImageUnreachable(result.unreachable, false);
  // A Buffer crosses from a worker as a plain Uint8Array.
  const { bytes } = result.sbom;
  return { ...result.sbom, bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}
