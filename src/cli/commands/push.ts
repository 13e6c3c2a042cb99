import type { Command } from "commander";
import type { Artifact } from "../../oci/image.js";
import { contentBlobs } from "../../oci/layout.js";
import { parseReference } from "../../oci/reference.js";
import { type PushReport, pushArtifact } from "../../oci/registry/push.js";
import { type RegistryFlags, readArtifact, registryOptions } from "../destination.js";
import { formatBytes, type Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import type { CommonOptions } from "./common.js";

export interface PushFlags extends RegistryFlags {
  jobs?: number;
  json?: boolean;
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
  try {
    const report = await pushArtifact(artifact, ref, {
      ...registryOptions(flags),
      concurrency: flags.jobs,
      onProgress: (e) => {
        if (e.type === "blob-done") {
          progress.tick(`${e.digest.slice(7, 19)} ${e.outcome} ${formatBytes(e.size)}`);
        }
      },
    });
    progress.stop();
    for (const img of report.images) {
      const arch = img.platform ? ` ${img.platform.architecture}` : "";
      out.line(
        `pushed${arch} ${img.digest}: ${img.uploaded} uploaded (${formatBytes(img.bytesSent)}), ${img.skipped} already there, ${img.mounted} mounted`,
      );
    }
    out.line(
      `${report.reference}: ${report.uploaded} blobs uploaded (${formatBytes(report.bytesSent)}), ${report.skipped} skipped, ${report.mounted} mounted`,
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
