import { lockPathFor, writeLock } from "../../lock/lock.js";
import {
  describeChange,
  type PackageChange,
  parsePackageTarget,
  type UpdateTargets,
} from "../../lock/update.js";
import { archiveKind } from "../../oci/homes/docker-archive.js";
import { readHome } from "../../oci/homes/homes.js";
import { type Home, homeText, outputHome, referenceHome, sourceHome } from "../../oci/homes/name.js";
import { artifactDescriptor } from "../../oci/image.js";
import { type ImageUpdate, updateImage } from "../../pipeline/update.js";
import { assertSignable, signImage } from "../../sign/sign-image.js";
import { loadSpec } from "../../spec/spec.js";
import { StrataError } from "../../util/errors.js";
import type { CommandDef } from "../command.js";
import {
  DEFAULT_IMAGE_NAME,
  formatOption,
  type OutputFormat,
  type PushFlags,
  registryOptions,
  writeArtifact,
} from "../destination.js";
import { formatBytes, type Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import { printSignReport, type SigningFlags, signingKeyOf, withSigningFlags } from "../signing-flags.js";
import { type CommonOptions, collect, workerCount } from "./common.js";

interface UpdateFlags extends CommonOptions, PushFlags, SigningFlags {
  package?: string[];
  all?: boolean;
  spec?: string;
  output?: string;
  format?: OutputFormat;
  push?: string;
  force?: boolean;
  verify?: boolean;
}

function targetsOf(opts: UpdateFlags): UpdateTargets {
  const named = opts.package ?? [];
  if (opts.all && named.length > 0)
    throw new StrataError("USAGE", "--all and --package contradict each other", {
      hint: "name packages with --package, or update every one with --all",
    });
  if (!opts.all && named.length === 0)
    throw new StrataError("USAGE", "update needs --package NAME[=VERSION] or --all", {
      hint: "e.g. strata update docker://127.0.0.1:5000/app:1 --package libssl3",
    });
  return opts.all ? { all: true } : { packages: named.map(parsePackageTarget) };
}

/** Where the updated image goes: -o, --push, or back where it was (a registry tag; a local one with --force). */
function destinationOf(image: Home, opts: UpdateFlags): Home {
  if (opts.output !== undefined && opts.push !== undefined)
    throw new StrataError("USAGE", "-o and --push contradict each other", { hint: "pick one destination" });
  if (opts.output !== undefined) return outputHome(opts.output, opts.format);
  if (opts.push !== undefined) return referenceHome(opts.push);
  if (image.transport === "docker" && image.ref.tag === undefined)
    throw new StrataError("USAGE", `${homeText(image)} names a digest, which cannot point at another image`, {
      hint: "push the update under a tag with --push REF",
    });
  if (image.transport !== "docker" && !opts.force)
    throw new StrataError("OUTPUT_EXISTS", `${homeText(image)} is local: updating it in place replaces it`, {
      hint: "pass --force to replace it, or write the update elsewhere with -o DEST",
    });
  return image;
}

/** One line per changed package: which layer holds it now, and its size. */
function changeLines(update: ImageUpdate): string[] {
  const multiArch = new Set(update.changes.map((c) => c.arch)).size > 1;
  const where = (c: PackageChange) => {
    const p = c.to ?? c.from!;
    const held = `${p.name}=${p.version}`;
    const layer = (c.to ? update.newLayers : update.goneLayers).find(
      (l) => l.arch === c.arch && l.packages.includes(held),
    );
    if (!layer) return "";
    const kind = layer.packages.length > 1 ? `group layer of ${layer.packages.length}` : "layer";
    return ` (${c.to ? "" : "removed "}${kind} ${layer.position}, ${formatBytes(layer.size)})`;
  };
  const lines = update.changes.map((c) => `${multiArch ? `${c.arch}: ` : ""}${describeChange(c)}${where(c)}`);
  for (const l of update.newLayers.filter((n) => n.kind === "files"))
    lines.push(
      `${multiArch ? `${l.arch}: ` : ""}files layer ${l.position} made again (${formatBytes(l.size)})`,
    );
  return lines;
}

async function runUpdate([imageText]: [string], opts: UpdateFlags, o: Output): Promise<void> {
  const targets = targetsOf(opts);
  const image = await sourceHome(imageText, archiveKind);
  const destination = destinationOf(image, opts);
  const key = await signingKeyOf(opts);
  if (key) assertSignable(destination);
  const started = performance.now();
  const spec = opts.spec === undefined ? undefined : await loadSpec(opts.spec, { mirror: opts.mirror });
  const old = await readHome(image, { registry: registryOptions(opts) });
  const downloaded: string[] = [];
  const update = await updateImage(old, homeText(image), spec, targets, {
    cacheRoot: opts.cacheDir,
    jobs: opts.jobs,
    mirror: opts.mirror,
    verify: opts.verify,
    onEvent: (e) => {
      if (e.kind === "fetched" && !e.cached) downloaded.push(`${e.pkg.name}=${e.pkg.version}`);
    },
  });
  if (!update.build) {
    o.line(`${homeText(image)}: nothing to update (the repositories offer nothing newer)`);
    if (opts.json) o.json({ changes: [], bytesSent: 0 });
    return;
  }
  const names = {
    force: opts.force || destination === image,
    refName: "latest",
    archiveName: `${DEFAULT_IMAGE_NAME}:latest`,
  };
  const push = await writeArtifact(destination, update.build.artifact, names, o, { ...opts, json: false });
  if (destination.transport !== "docker") o.line(`wrote ${homeText(destination)}`);
  // The new digest is what pods will pull: it is signed anew (the old digest's signature stays with it).
  if (key)
    printSignReport(
      await signImage(destination, key, { artifact: update.build.artifact, registry: registryOptions(opts) }),
      false,
      o,
    );
  // The lock beside the spec follows the image, once the image is written.
  if (spec) await writeLock(lockPathFor(spec), update.lock, { cacheRoot: opts.cacheDir });
  for (const line of changeLines(update)) o.line(line);
  o.line(provenanceLine(update, homeText(image), opts.verify === true));
  if (spec) o.line(`updated ${lockPathFor(spec)}`);
  const seconds = Number(((performance.now() - started) / 1000).toFixed(2));
  if (opts.json) o.json(jsonReport(update, push?.bytesSent ?? 0, downloaded, seconds));
}

/** Where the package layers came from, and so what the written image rests on. */
function provenanceLine({ build }: ImageUpdate, where: string, verified: boolean): string {
  const { layersReused, layersCached, layersMade } = build!.work;
  const line = `package layers: ${layersMade} made, ${layersCached} from strata's cache`;
  if (layersReused > 0)
    return `${line}, ${layersReused} kept from ${where} unread, trusted to be what its record says (--verify proves them)`;
  return verified ? `${line}; every layer the image keeps equals the one strata made` : line;
}

function jsonReport(update: ImageUpdate, bytesSent: number, downloaded: string[], seconds: number) {
  return {
    digest: artifactDescriptor(update.build!.artifact).digest,
    changes: update.changes.map((c) => ({
      arch: c.arch,
      name: c.name,
      from: c.from?.version ?? null,
      to: c.to?.version ?? null,
    })),
    newLayers: update.newLayers,
    goneLayers: update.goneLayers,
    downloaded,
    layersTrusted: update.build!.work.layersReused,
    bytesSent,
    seconds,
  };
}

export const command: CommandDef<UpdateFlags, [string]> = {
  name: "update",
  summary:
    "swap packages of an image strata built in place: only the changed layers are replaced, and the result is what `strata build` makes from the updated lock",
  arguments: [
    {
      name: "<image>",
      description: "the image: docker://REF, oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE ...",
    },
  ],
  options: (cmd) =>
    withSigningFlags(
      withRegistryFlags(
        cmd
          .option(
            "-p, --package <name[=ver]>",
            "update this package (to the newest, or VERSION); repeatable",
            collect,
          )
          .option("--all", "update every package to the newest version the repositories offer")
          .option("--spec <spec>", "resolve with this spec's repositories (and update its lock)")
          .option("-o, --output <dest>", "write the updated image here instead of in place")
          .addOption(formatOption())
          .option("--push <ref>", "push the updated image here instead of in place")
          .option("--force", "replace a local image in place")
          .option("--verify", "make every unchanged layer too, and refuse one that differs from the image's")
          .option("-j, --jobs <n>", "parallel workers for layers and uploads", workerCount)
          .option("--json", "print the changes and new layers as JSON on stdout"),
      ),
    ),
  examples: [
    "strata update docker://reg.example/team/app:1 --package libssl3",
    "strata update oci:out/app --all --spec strata.yaml -o oci:out/app-2",
    "strata update docker://reg.example/team/app:1 --package libssl3 --sign --key keys/release.key",
  ],
  handler: runUpdate,
};
