import type { Command } from "commander";
import { fetchDebs } from "../../debian/fetch-debs.js";
import { assertLockCovers, lockPathFor, readLock } from "../../lock/lock.js";
import { relocateLock } from "../../lock/relocate.js";
import { loadSpec } from "../../spec/spec.js";
import { examples } from "../help.js";
import { formatBytes, type Output } from "../output.js";
import { type CommonOptions, specArgument, workerCount } from "./common.js";

export function registerFetch(program: Command, out: () => Output): void {
  program
    .command("fetch")
    .description("download the locked .debs into the cache, each verified by sha256")
    .argument("[spec]", "the spec file", "strata.yaml")
    .option("-j, --jobs <n>", "parallel downloads", workerCount, 4)
    .addHelpText("after", examples("strata fetch -j 8 app.yaml"))
    .action(async (specPath: string, opts: CommonOptions & { jobs: number }) => {
      const spec = await loadSpec(specArgument(specPath), { mirror: opts.mirror });
      const lockPath = lockPathFor(spec);
      const lock = relocateLock(await readLock(lockPath, spec, { cacheRoot: opts.cacheDir }), opts.mirror);
      assertLockCovers(lock, spec, lockPath);
      const unique = new Map(lock.packages.map((p) => [p.sha256, p]));
      const progress = out().progress("fetch", unique.size);
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
      out().line(`${unique.size} .debs ready (${downloaded} downloaded, ${formatBytes(bytes)})`);
    });
}
