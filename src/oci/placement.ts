import { link, mkdir, readdir, rename, rm, stat, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { isLocalIoError, StrataError } from "../util/errors.js";
import { tempPathFor } from "../util/fs.js";

/**
 * Every output (an OCI layout directory, an oci-archive, a docker-archive) is written into a temp
 * sibling and takes its place only when complete, so a killed or failing run never leaves a torn
 * output, and `--force` replaces the old one only once the new one is whole. Temp siblings that a
 * killed run left are swept by the next run that writes the same output.
 */

export type OutputKind = "file" | "directory";

/** Renaming a directory over a non-empty one fails; a concurrent writer can make that happen again. */
const PLACE_ATTEMPTS = 5;
const TEMP_SIBLING = /^\.(.+)\.tmp-(\d+)-[0-9a-f]+$/;

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** Whether process `pid` still runs (a killed writer's temp files may be swept). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errno(err) === "EPERM"; // alive, owned by someone else
  }
}

/** Removes temp siblings of `target` whose writing process is gone (a live writer's are kept). */
export async function sweepStaleSiblings(target: string): Promise<number> {
  const parent = dirname(target);
  const names = await readdir(parent).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names) {
    const m = TEMP_SIBLING.exec(name);
    if (!m || m[1] !== basename(target) || isAlive(Number(m[2]))) continue;
    await rm(join(parent, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/** Refuses to write over what is at `target` unless `force` allows it and it is the same kind of thing. */
async function checkTarget(target: string, kind: OutputKind, force: boolean): Promise<void> {
  const info = await stat(target).catch(() => undefined);
  if (info === undefined) return;
  if (info.isDirectory() !== (kind === "directory")) {
    throw new StrataError("OUTPUT_EXISTS", `${target} exists and is not a ${kind}`, {
      hint: `choose another output path for the ${kind === "file" ? "archive" : "OCI layout"}`,
    });
  }
  if (kind === "directory" && (await readdir(target)).length === 0) return;
  if (!force) {
    throw new StrataError("OUTPUT_EXISTS", `${target} already exists`, {
      hint: "pass --force to replace it",
    });
  }
}

/** Moves the finished `tmp` to `target`; with `force`, whatever is there goes only after. */
async function place(tmp: string, target: string, kind: OutputKind, force: boolean): Promise<void> {
  if (kind === "file") {
    // rename replaces a file atomically; link does not replace, which is what no --force means.
    if (force) await rename(tmp, target);
    else await link(tmp, target).then(() => unlink(tmp));
    return;
  }
  const replaced: string[] = [];
  try {
    for (let attempt = 0; attempt < PLACE_ATTEMPTS; attempt++) {
      try {
        await rename(tmp, target); // succeeds over nothing or an empty directory
        return;
      } catch (err) {
        if (errno(err) !== "ENOTEMPTY" && errno(err) !== "EEXIST") throw err;
      }
      if (!force)
        throw new StrataError("OUTPUT_EXISTS", `${target} already exists`, { hint: "pass --force" });
      const old = tempPathFor(target);
      await rename(target, old).then(
        () => replaced.push(old),
        (err) => {
          if (errno(err) !== "ENOENT") throw err; // another writer moved it first
        },
      );
    }
    throw new StrataError("OUTPUT_EXISTS", `${target} kept being replaced while strata was writing it`, {
      hint: "another strata is writing the same output; run one at a time",
    });
  } finally {
    for (const old of replaced) await rm(old, { recursive: true, force: true });
  }
}

/** The error for a failed output write, naming the output rather than a temp or cache path. */
function outputError(err: unknown, target: string): unknown {
  if (!isLocalIoError(err)) return err;
  const code = errno(err);
  const full = code === "ENOSPC" || code === "EDQUOT";
  return new StrataError(
    "IO",
    full ? `no space left on device writing ${target}` : `cannot write ${target} (${code})`,
    {
      hint: `${full ? "free some space there or" : "fix the permissions or"} choose another output path; nothing half-written was kept`,
      cause: err,
    },
  );
}

/**
 * Writes an output at `target` all at once: `write` fills a temp sibling (a file or a directory),
 * which then takes `target`'s place. An existing output is replaced only with `force`.
 */
export async function writeOutput(
  target: string,
  opts: { kind: OutputKind; force?: boolean },
  write: (tmp: string) => Promise<void>,
): Promise<void> {
  const force = opts.force ?? false;
  await sweepStaleSiblings(target); // first: a run killed after placing its output left one too
  await checkTarget(target, opts.kind, force);
  await mkdir(dirname(target), { recursive: true });
  const tmp = tempPathFor(target);
  try {
    await write(tmp);
    await place(tmp, target, opts.kind, force);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw outputError(err, target);
  }
}
