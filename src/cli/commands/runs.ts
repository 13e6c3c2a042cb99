import type { RunRecord } from "../../fleet/runs.js";
import { archiveKind } from "../../oci/homes/docker-archive.js";
import { readHome } from "../../oci/homes/homes.js";
import { sourceHome } from "../../oci/homes/name.js";
import { artifactImages, imageDescriptor } from "../../oci/image.js";
import { SHA256_DIGEST } from "../../util/verify.js";
import type { CommandDef } from "../command.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import { type IndexFlags, withIndex, withIndexFlag } from "../index-flags.js";
import { formatBytes, type Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";

interface RunsFlags extends IndexFlags, RegistryFlags {
  image?: string;
  limit: string;
}

/** The manifest digests `--image` names: a digest as it is, a location every image it holds. */
async function imageDigests(image: string, flags: RunsFlags): Promise<string[]> {
  if (SHA256_DIGEST.test(image)) return [image];
  const artifact = await readHome(await sourceHome(image, archiveKind), { registry: registryOptions(flags) });
  return artifactImages(artifact).map((i) => imageDescriptor(i).digest);
}

function runLines(runs: RunRecord[]): string[] {
  if (runs.length === 0) return ["no runs recorded"];
  return runs.map((r) => {
    const seconds = ((r.endedAt - r.startedAt) / 1000).toFixed(1);
    const peak = r.peakMemoryBytes === null ? "-" : formatBytes(r.peakMemoryBytes);
    const how = r.outcome === "exited" ? `exit ${r.exitCode}` : `${r.outcome} (${r.exitCode})`;
    return [
      new Date(r.startedAt).toISOString(),
      r.name || r.id,
      r.digest.slice(0, 19),
      how,
      `${seconds}s`,
      peak,
      `user ${r.user}`,
      `by ${r.runBy}`,
      r.args.join(" ").slice(0, 80),
    ].join("  ");
  });
}

async function runs(_: [], flags: RunsFlags, out: Output): Promise<void> {
  const digests = flags.image === undefined ? undefined : await imageDigests(flags.image, flags);
  const limit = Number.parseInt(flags.limit, 10);
  const runs = await withIndex(flags, (index) =>
    index.runs({ digests, limit: Number.isNaN(limit) ? 100 : limit }),
  );
  if (flags.json) out.json({ runs });
  else process.stdout.write(`${runLines(runs).join("\n")}\n`);
}

export const command: CommandDef<RunsFlags, []> = {
  name: "runs",
  summary: "what strata run ran: image digest, arguments, start and end, exit code, peak memory, user",
  options: (cmd) =>
    withIndexFlag(
      withRegistryFlags(
        cmd
          .option(
            "--image <image>",
            "only runs of this image: a manifest digest, or a location (every image it holds)",
          )
          .option("--limit <n>", "at most this many, newest first", "100")
          .option("--json", "print {runs: [...]} as JSON"),
      ),
    ),
  examples: ["strata runs", "strata runs --image oci:out/python3 --limit 10 --json"],
  handler: runs,
};
