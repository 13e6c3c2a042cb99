import type { Command } from "commander";
import type { FleetIndex } from "../fleet/fleet-index.js";
import { withFleetIndex } from "../fleet/with-index.js";
import type { CommonOptions } from "./commands/common.js";

/** The fleet index's flag and its opening, for every command that reads or writes the index. */

export interface IndexFlags extends CommonOptions {
  index?: string;
  json?: boolean;
}

/** `--index`, on every command that opens the index. */
export function withIndexFlag(cmd: Command): Command {
  return cmd.option(
    "--index <path|url>",
    "the fleet index: a SQLite file or postgres:// URL ($STRATA_INDEX)",
  );
}

/** Opens the index, runs `work`, and closes it whatever happens. */
export async function withIndex<T>(flags: IndexFlags, work: (index: FleetIndex) => Promise<T>): Promise<T> {
  return withFleetIndex(flags.index, work);
}
