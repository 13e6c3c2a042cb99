import type { Command } from "commander";
import { type BuildResult, buildImages } from "../../build/builder.js";
import {
  assertLockCovers,
  type Lock,
  lockDrift,
  lockPathFor,
  readLock,
  writeLock,
} from "../../build/lock.js";
import { resolveSpec } from "../../build/resolve.js";
import { loadSpec, type Spec } from "../../build/spec.js";
import { artifactDescriptor, imageDescriptor } from "../../oci/image.js";
import { isStrataError, StrataError } from "../../util/errors.js";
import { type OutputFormat, writeArtifact } from "../destination.js";
import { formatBytes, type Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import { type CommonOptions, specArgument } from "./common.js";
import { type PushFlags, pushWithReport } from "./push.js";

interface BuildFlags extends CommonOptions, PushFlags {
  output?: string;
  format: OutputFormat;
  force?: boolean;
  tag: string;
  platform?: string;
  lockUpdate?: boolean;
  push?: string;
}

/** The lock to build from: the one on disk when it covers the spec, else re-resolved with --lock-update. */
async function lockFor(spec: Spec, opts: BuildFlags, out: Output): Promise<Lock> {
  const lockPath = lockPathFor(spec);
  let lock: Lock | undefined;
  try {
    lock = await readLock(lockPath);
  } catch (err) {
    if (!(isStrataError(err, "LOCK_MISSING") && opts.lockUpdate)) throw err;
  }
  if (lock && lockDrift(lock, spec).length === 0) return lock;
  if (!opts.lockUpdate) {
    assertLockCovers(lock!, spec, lockPath);
  }
  out.line(`resolving ${spec.path} (--lock-update)`);
  const fresh = await resolveSpec(spec, { cacheRoot: opts.cacheDir });
  await writeLock(lockPath, fresh);
  out.line(`wrote ${lockPath}`);
  return fresh;
}

function summary(result: BuildResult) {
  return {
    digest: artifactDescriptor(result.artifact).digest,
    mediaType: artifactDescriptor(result.artifact).mediaType,
    epoch: result.epoch,
    images: result.images.map(({ arch, image, layers }) => ({
      arch,
      digest: imageDescriptor(image).digest,
      layers: layers.map((l) => ({
        digest: l.blob.digest,
        diffId: l.blob.diffId,
        size: l.blob.size,
        kind: l.kind,
        packages: l.packages,
      })),
    })),
    skippedScripts: result.skippedScripts,
    skippedEffects: result.skippedEffects,
    overlaps: result.overlaps,
  };
}

export function registerBuild(program: Command, out: () => Output): void {
  withRegistryFlags(
    program
      .command("build")
      .description(
        "build the locked spec into an OCI image (an index for several archs), one layer per package",
      )
      .argument("[spec]", "the spec file", "strata.yaml")
      .option("-o, --output <path>", "where to write the image (an OCI layout directory by default)")
      .option("--format <format>", "oci (layout directory), oci-archive or docker-archive", "oci")
      .option("--tag <tag>", "tag inside the layout or archive", "latest")
      .option("--platform <arch>", "for docker-archive of a multi-arch spec: the architecture to write")
      .option("--force", "replace an existing output")
      .option("--lock-update", "re-resolve and rewrite strata.lock when it does not cover the spec")
      .option("--push <ref>", "push the built image to a registry too")
      .option("-j, --jobs <n>", "parallel workers for layers and uploads", (v) => Number.parseInt(v, 10))
      .option("--json", "print a summary (digests, layers, packages) as JSON on stdout"),
  ).action(async (specPath: string, opts: BuildFlags) => {
    if (!opts.output && !opts.push) {
      throw new StrataError("USAGE", "build needs -o OUTPUT, --push REF, or both", {
        hint: "e.g. strata build -o out/python3",
      });
    }
    if (!["oci", "oci-archive", "docker-archive"].includes(opts.format)) {
      throw new StrataError("USAGE", `unknown --format ${opts.format}`, {
        hint: "use oci, oci-archive or docker-archive",
      });
    }
    const o = out();
    const started = performance.now();
    const spec = await loadSpec(specArgument(specPath), { mirror: opts.mirror });
    const lock = await lockFor(spec, opts, o);
    let progress = o.progress("build", 0);
    const result = await buildImages(spec, lock, {
      cacheRoot: opts.cacheDir,
      jobs: opts.jobs,
      onEvent: (e) => {
        if (e.kind === "fetched")
          progress.tick(`${e.pkg.name} ${e.pkg.version}${e.cached ? " (cached)" : ""}`);
        else if (e.kind === "layer") progress.tick(`${e.arch} ${e.what}${e.cached ? " (cached)" : ""}`);
        else o.line(e.message);
      },
      onPlan: ({ layers, debs }) => {
        progress = o.progress("build", layers + debs);
      },
    }).finally(() => progress.stop());
    if (opts.output) {
      await writeArtifact(opts.output, result.artifact, {
        format: opts.format,
        force: opts.force,
        tag: opts.tag,
        platform: opts.platform,
      });
    }
    for (const { arch, image, layers } of result.images) {
      const size = layers.reduce((n, l) => n + l.blob.size, 0);
      o.line(`${arch}: ${imageDescriptor(image).digest} (${layers.length} layers, ${formatBytes(size)})`);
    }
    if (result.skippedScripts.length > 0) {
      o.line(`maintainer scripts followed, not run: ${result.skippedScripts.join(" ")}`);
    }
    for (const e of result.skippedEffects) {
      const what = e.command.startsWith("(") ? e.command : `'${e.command}'`;
      o.line(`${e.package}: ${e.script}: skipped ${what} (${e.reason})`);
    }
    for (const note of result.overlaps) o.line(note);
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    if (opts.output) o.line(`wrote ${opts.output} (${opts.format}) in ${seconds}s`);
    if (opts.push) await pushWithReport(result.artifact, opts.push, { ...opts, json: false }, o);
    if (opts.json)
      process.stdout.write(`${JSON.stringify({ ...summary(result), seconds: Number(seconds) })}\n`);
  });
}
