import { relocateUrl } from "../debian/sources.js";
import type { Image } from "../oci/image.js";
import type { RebuildableImage } from "../record/rebuildable.js";
import type { Spec } from "../spec/spec.js";
import { StrataError } from "../util/errors.js";

/** `KEY=VALUE` entries of a config's Env, in order, as the spec's env map they were made from. */
function envOf(entries: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries ?? []) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/**
 * The spec an image strata built was made from, as far as a build needs it, read from the image
 * itself: the build record (lock inputs, layer budget and compression, docs, epoch, accounts) and
 * the config (entrypoint, cmd, env, user, workdir, labels). A spec's `files:` bodies live only in
 * the files layer, so an image with spec files needs its spec (`--spec`) instead. `mirror` moves
 * the recorded repositories as `--mirror` moves a spec's.
 */
export function specOfImage(
  rebuildable: RebuildableImage[],
  images: Image[],
  where: string,
  mirror?: string,
): Spec {
  const { record } = rebuildable[0];
  if (record.files.length > 0)
    throw new StrataError(
      "USAGE",
      `${where} was built from a spec with files: (${record.files.map((f) => f.path).join(", ")}), which the image holds only as bytes of its files layer`,
      { hint: "pass the spec it was built from with --spec SPEC" },
    );
  const run = images[0].config.config ?? {};
  const inputs = record.lock.inputs;
  return {
    path: `${where} (its build record)`,
    repositories: inputs.repositories.map((r) => ({ ...r, url: relocateUrl(r.url, mirror) })),
    repositoriesFromHost: false,
    archs: rebuildable.map((a) => a.record.arch),
    packages: [...inputs.packages],
    exclude: [...inputs.exclude],
    essential: inputs.essential === true,
    excludeFromSpec: record.lock.excluded.some((e) => e.excludedBy === "spec"),
    docs: record.docs,
    epoch: record.epoch,
    layers: { ...record.layers },
    ...(record.accounts ? { accounts: record.accounts } : {}),
    env: envOf(run.Env),
    ...(run.Entrypoint ? { entrypoint: run.Entrypoint } : {}),
    ...(run.Cmd ? { cmd: run.Cmd } : {}),
    ...(run.User ? { user: run.User } : {}),
    ...(run.WorkingDir ? { workdir: run.WorkingDir } : {}),
    ...(run.Labels ? { labels: run.Labels } : {}),
    files: [],
    filesRoot: "/",
    warnings: [],
  };
}
