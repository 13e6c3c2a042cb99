import { recordedRuns } from "../../fleet/recorded-runs.js";
import type { RunRecord } from "../../fleet/runs.js";
import type { CommandDef } from "../command.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import { type IndexFlags, withIndexFlag } from "../index-flags.js";
import { formatBytes, type Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";

interface RunsFlags extends IndexFlags, RegistryFlags {
  image?: string;
  limit: string;
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
  const limit = Number.parseInt(flags.limit, 10);
  const request = { ...flags, limit: Number.isNaN(limit) ? 100 : limit, registry: registryOptions(flags) };
  const runs = await recordedRuns(request);
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
