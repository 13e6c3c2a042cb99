import {
  type ArtifactDiff,
  diffLocations,
  type ImageDiff,
  type PackageSide,
} from "../../inventory/image-diff.js";
import { parsePlatform } from "../../oci/platform.js";
import type { CommandDef } from "../command.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import { formatBytes, type Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import type { CommonOptions } from "./common.js";

interface DiffFlags extends CommonOptions, RegistryFlags {
  platform?: string;
  json?: boolean;
}

function withSource(p: { version: string; source?: string; sourceVersion?: string }): string {
  if (p.source === undefined) return p.version;
  return `${p.version} (source ${p.source} ${p.sourceVersion ?? p.version})`;
}

function packageLine(mark: string, p: PackageSide): string {
  return `  ${mark} ${p.name}${p.architecture ? `:${p.architecture}` : ""} ${withSource(p)}`;
}

/** The human report of one image pair. */
function imageLines(d: ImageDiff): string[] {
  const { added, removed, changed, same } = d.packages;
  const lines = [
    `${d.platform}: ${d.a.digest} -> ${d.b.digest}`,
    `  packages: ${added.length} added, ${removed.length} removed, ${changed.length} changed, ${same} the same`,
    ...added.map((p) => packageLine("+", p)),
    ...removed.map((p) => packageLine("-", p)),
    ...changed.map(
      (c) =>
        `  ~ ${c.name}${c.architecture ? `:${c.architecture}` : ""} ${withSource(c.a)} -> ${withSource(c.b)}`,
    ),
    `  layers: ${d.layers.shared} shared, ${d.layers.onlyInA} only in A, ${d.layers.onlyInB} only in B`,
    `  a node holding A pulls ${d.pull.layers} ${d.pull.layers === 1 ? "layer" : "layers"} (${formatBytes(d.pull.bytes)}) to run B`,
    d.chainIdsPartAt === null
      ? "  ChainIDs: the same in every layer"
      : `  ChainIDs part at layer ${d.chainIdsPartAt} (of ${d.a.layers} in A, ${d.b.layers} in B)`,
  ];
  return lines;
}

/** The human report: it is the command's result, so it goes to stdout (progress and errors go to stderr). */
function reportLines(diff: ArtifactDiff): string[] {
  const lines = diff.images.flatMap(imageLines);
  if (diff.onlyInA.length > 0) lines.push(`only in A: ${diff.onlyInA.join(", ")}`);
  if (diff.onlyInB.length > 0) lines.push(`only in B: ${diff.onlyInB.join(", ")}`);
  if (diff.images.length === 0) lines.push("no platform is in both");
  return lines;
}

async function diff([a, b]: [string, string], opts: DiffFlags, out: Output): Promise<void> {
  if (opts.platform !== undefined) parsePlatform(opts.platform);
  const diff = await diffLocations(a, b, { registry: registryOptions(opts), platform: opts.platform });
  if (opts.json) out.json(diff);
  else process.stdout.write(`${reportLines(diff).join("\n")}\n`);
}

export const command: CommandDef<DiffFlags, [string, string]> = {
  name: "diff",
  summary:
    "compare two images in any image locations: packages, shared layers, bytes to pull, where ChainIDs part",
  arguments: [
    {
      name: "<a>",
      description:
        "the image a node holds: a layout, an archive, oci:DIR, docker-archive:FILE, docker://REF ...",
    },
    { name: "<b>", description: "the image to compare it with" },
  ],
  options: (cmd) =>
    withRegistryFlags(
      cmd
        .option(
          "--platform <platform>",
          "compare this platform of multi-platform images (linux/arm64, arm64)",
        )
        .option("--json", "print the diff as JSON on stdout"),
    ),
  examples: ["strata diff reg.example/team/app:1 out/app"],
  handler: diff,
};
