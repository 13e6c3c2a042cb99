import { fetchDebs } from "../../debian/fetch-debs.js";
import { assertLockCovers, lockPathFor, readLock } from "../../lock/lock.js";
import { relocateLock } from "../../lock/relocate.js";
import { loadSpec } from "../../spec/spec.js";
import type { CommandDef } from "../command.js";
import { formatBytes, type Output } from "../output.js";
import { type CommonOptions, SPEC_ARGUMENT, specArgument, workerCount } from "./common.js";

async function fetch(
  [specPath]: [string],
  opts: CommonOptions & { jobs: number },
  out: Output,
): Promise<void> {
  const spec = await loadSpec(specArgument(specPath), { mirror: opts.mirror });
  const lockPath = lockPathFor(spec);
  const lock = relocateLock(await readLock(lockPath, spec, { cacheRoot: opts.cacheDir }), opts.mirror);
  assertLockCovers(lock, spec, lockPath);
  const unique = new Map(lock.packages.map((p) => [p.sha256, p]));
  const progress = out.progress("fetch", unique.size);
  let downloaded = 0;
  let bytes = 0;
  try {
    await fetchDebs(lock.packages, {
      cacheRoot: opts.cacheDir,
      concurrency: opts.jobs,
      onEvent: (e) => {
        if (e.status === "downloaded") {
          downloaded++;
          bytes += e.pkg.size;
        }
        progress.tick(
          `${e.pkg.name} ${e.pkg.version} ${e.status === "cached" ? "(cached)" : formatBytes(e.pkg.size)}`,
        );
      },
    });
  } finally {
    progress.stop();
  }
  out.line(`${unique.size} .debs ready (${downloaded} downloaded, ${formatBytes(bytes)})`);
}

export const command: CommandDef<CommonOptions & { jobs: number }, [string]> = {
  name: "fetch",
  summary: "download the locked .debs into the cache, each verified by sha256",
  arguments: [SPEC_ARGUMENT],
  options: (cmd) => cmd.option("-j, --jobs <n>", "parallel downloads", workerCount, 4),
  examples: ["strata fetch -j 8 app.yaml"],
  handler: fetch,
};
