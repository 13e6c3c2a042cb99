import { lockSpec } from "../../lock/lock-spec.js";
import type { CommandDef } from "../command.js";
import type { Output } from "../output.js";
import { type CommonOptions, SPEC_ARGUMENT, specArgument } from "./common.js";

interface LockFlags {
  check?: boolean;
  json?: boolean;
  allowDowngrade?: boolean;
  checkValidUntil: boolean;
}

async function lock([specPath]: [string], opts: CommonOptions & LockFlags, out: Output): Promise<void> {
  const started = performance.now();
  const { spec, lockPath, lock } = await lockSpec(specArgument(specPath), opts, (warning) =>
    out.line(`warning: ${warning}`),
  );
  if (!lock) {
    out.line(`${lockPath} covers ${spec.path}`);
    return;
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(2);
  if (opts.json) {
    const { packages, excluded } = lock;
    out.json({
      lock: lockPath,
      archs: spec.archs,
      packages: packages.length,
      excluded: excluded.length,
      seconds: Number(seconds),
    });
  }
  for (const arch of spec.archs) {
    const n = lock.packages.filter((p) => p.arch === arch).length;
    const ex = lock.excluded.filter((e) => e.arch === arch && e.neededBy.length > 0).map((e) => e.name);
    out.line(`${arch}: ${n} packages${ex.length ? ` (excluded, though wanted: ${ex.join(", ")})` : ""}`);
  }
  out.line(`wrote ${lockPath} in ${seconds}s`);
}

export const command: CommandDef<CommonOptions & LockFlags, [string]> = {
  name: "lock",
  summary:
    "resolve the spec against the signed repositories and write its lock beside it (app.yaml → app.lock)",
  arguments: [SPEC_ARGUMENT],
  options: (cmd) =>
    cmd
      .option("--check", "do not write; exit 1 if the lock does not cover the spec")
      .option("--json", "print the lock's summary as JSON on stdout")
      .option("--allow-downgrade", "accept an InRelease older than the last one seen")
      .option("--no-check-valid-until", "accept an expired Valid-Until (snapshots), with a warning"),
  examples: ["strata lock", "strata lock --check app.yaml"],
  handler: lock,
};
