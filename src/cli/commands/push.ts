import type { Command } from "commander";
import { type Artifact, artifactImages, imageDescriptor } from "../../oci/image.js";
import { contentBlobs } from "../../oci/layout.js";
import { platformText } from "../../oci/platform.js";
import { parseReference } from "../../oci/reference.js";
import { type BlobOutcome, type PushReport, pushArtifact } from "../../oci/registry/push.js";
import { type RegistryFlags, readArtifact, registryOptions } from "../destination.js";
import { formatBytes, type Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import type { CommonOptions } from "./common.js";

export interface PushFlags extends RegistryFlags {
  jobs?: number;
  json?: boolean;
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

/** Pushes an artifact with progress, then prints the report (shared by `push` and `build --push`). */
export async function pushWithReport(
  artifact: Artifact,
  refText: string,
  flags: PushFlags,
  out: Output,
): Promise<PushReport> {
  const ref = parseReference(refText);
  const progress = out.progress("push", contentBlobs(artifact).length);
  const done = new Map<string, BlobDone>();
  try {
    const report = await pushArtifact(artifact, ref, {
      ...registryOptions(flags),
      concurrency: flags.jobs,
      onProgress: (e) => {
        if (e.type !== "blob-done") return;
        done.set(e.digest, { outcome: e.outcome, size: e.size });
        progress.tick(`${e.digest.slice(7, 19)} ${e.outcome} ${formatBytes(e.size)}`);
      },
    });
    progress.stop();
    if (report.images.length > 1) for (const line of imageLines(artifact, done)) out.line(line);
    out.line(
      `${report.reference}: ${report.uploaded} blobs uploaded (${formatBytes(report.bytesSent)}), ${report.skipped} already there, ${report.mounted} mounted`,
    );
    if (flags.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    return report;
  } finally {
    progress.stop();
  }
}

export function registerPush(program: Command, out: () => Output): void {
  withRegistryFlags(
    program
      .command("push")
      .description("push an image or index from an OCI layout (or oci-archive) to a registry")
      .argument("<source>", "OCI layout directory or oci-archive file")
      .argument("<ref>", "destination, e.g. registry.example:5000/team/app:1.0")
      .option("--tag <tag>", "which tag of the layout to push (default: its only one)")
      .option("-j, --jobs <n>", "parallel blob uploads", (v) => Number.parseInt(v, 10), 4)
      .option("--json", "print the push report as JSON on stdout"),
  ).action(async (source: string, ref: string, opts: CommonOptions & PushFlags & { tag?: string }) => {
    const artifact = await readArtifact(source, opts.tag);
    await pushWithReport(artifact, ref, opts, out());
  });
}
