import { Option } from "commander";
import { type Artifact, artifactImages, imageDescriptor } from "../oci/image.js";
import { LOCAL_TRANSPORTS, type LocalTransport } from "../oci/locations/name.js";
import { platformText } from "../oci/platform.js";
import { parseCredentials } from "../oci/registry/auth.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import type { BlobOutcome, PushReport } from "../oci/registry/push.js";
import type { PushWatcher } from "../pipeline/deliver.js";
import { formatBytes, type Output, type Progress } from "./output.js";

/** The `--format` of a bare -o path; a transport name (oci:, oci-archive:, docker-archive:) says it itself. */
export type OutputFormat = LocalTransport;

/** `--format` for build and pull: anything but the three formats is a usage error that lists them. */
export function formatOption(): Option {
  return new Option("--format <format>", "the format of a bare -o path").choices(LOCAL_TRANSPORTS);
}

/** `--tag` for build and pull: see `outputNames`. */
export function tagOption(): Option {
  return new Option("--tag <[name:]tag>", "the image's tag (default latest); NAME:TAG names archives too");
}

export interface RegistryFlags {
  creds?: string;
  insecure?: boolean;
  tlsVerify?: boolean;
  caFile?: string;
}

export interface PushFlags extends RegistryFlags {
  jobs?: number;
  json?: boolean;
}

export function registryOptions(flags: RegistryFlags): RegistryClientOptions {
  return {
    insecure: flags.insecure,
    credentials: flags.creds ? parseCredentials(flags.creds) : undefined,
    tlsVerify: flags.tlsVerify,
    caFile: flags.caFile,
  };
}

/**
 * A registry push shown as it goes: a progress line per blob, then a line per image of an index and
 * the totals. `stop` ends the progress display (also when the push failed).
 */
export function pushPrinter(out: Output): Required<PushWatcher> & { stop(): void } {
  let progress: Progress | undefined;
  const done = new Map<string, BlobDone>();
  return {
    onNote: (line) => out.line(line),
    onPushStart: (blobs) => {
      progress = out.progress("push", blobs);
    },
    onPush: (e) => {
      if (e.type !== "blob-done") return;
      done.set(e.digest, { outcome: e.outcome, size: e.size });
      progress?.tick(`${e.digest.slice(7, 19)} ${e.outcome} ${formatBytes(e.size)}`);
    },
    onPushed: (report: PushReport, artifact: Artifact) => {
      progress?.stop();
      if (report.images.length > 1) for (const line of imageLines(artifact, done)) out.line(line);
      out.line(
        `${report.reference}: ${report.uploaded} blobs uploaded (${formatBytes(report.bytesSent)}), ${report.skipped} already there, ${report.mounted} mounted`,
      );
    },
    stop: () => progress?.stop(),
  };
}

interface BlobDone {
  outcome: BlobOutcome;
  size: number;
}

/**
 * One line per image, counting each blob once, in the first image that holds it: a layer shared by
 * two platforms (an arch-independent package, the same files layer) is pushed once, so counting it
 * in both made the lines add up to more than the totals.
 */
function imageLines(artifact: Artifact, done: Map<string, BlobDone>): string[] {
  const counted = new Map<string, string>(); // digest → the platform it was counted in
  return artifactImages(artifact).map((image) => {
    const where = platformText(image);
    const counts = { uploaded: 0, skipped: 0, mounted: 0, bytes: 0, shared: new Set<string>() };
    for (const { digest } of [image.manifest.config, ...image.manifest.layers]) {
      const first = counted.get(digest);
      if (first !== undefined) {
        if (first !== where) counts.shared.add(first);
        continue;
      }
      counted.set(digest, where);
      const blob = done.get(digest);
      if (blob === undefined) continue;
      counts[blob.outcome]++;
      if (blob.outcome === "uploaded") counts.bytes += blob.size;
    }
    const also = counts.shared.size > 0 ? `; the rest shared with ${[...counts.shared].join(", ")}` : "";
    return `pushed ${where} ${imageDescriptor(image).digest}: ${counts.uploaded} uploaded (${formatBytes(counts.bytes)}), ${counts.skipped} already there, ${counts.mounted} mounted${also}`;
  });
}
