import type { FetchEvent } from "../../debian/fetch-debs.js";
import { fetchLocked } from "../../lock/fetch-locked.js";
import type { LockedPackage } from "../../lock/lock.js";
import type { CommandDef } from "../command.js";
import { formatBytes, type Output, type Progress } from "../output.js";
import { type CommonOptions, SPEC_ARGUMENT, specArgument, workerCount } from "./common.js";

async function fetch(
  [specPath]: [string],
  opts: CommonOptions & { jobs: number },
  out: Output,
): Promise<void> {
  let progress: Progress | undefined;
  const watcher = {
    onStart: (debs: number) => {
      progress = out.progress("fetch", debs);
    },
    onEvent: (e: FetchEvent<LockedPackage>) => {
      progress?.tick(
        `${e.pkg.name} ${e.pkg.version} ${e.status === "cached" ? "(cached)" : formatBytes(e.pkg.size)}`,
      );
    },
  };
  const { debs, downloaded, bytes } = await fetchLocked(specArgument(specPath), opts, watcher).finally(() =>
    progress?.stop(),
  );
  out.line(`${debs} .debs ready (${downloaded} downloaded, ${formatBytes(bytes)})`);
}

export const command: CommandDef<CommonOptions & { jobs: number }, [string]> = {
  name: "fetch",
  summary: "download the locked .debs into the cache, each verified by sha256",
  arguments: [SPEC_ARGUMENT],
  options: (cmd) => cmd.option("-j, --jobs <n>", "parallel downloads", workerCount, 4),
  examples: ["strata fetch -j 8 app.yaml"],
  handler: fetch,
};
