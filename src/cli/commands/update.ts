import {
  describeChange,
  type PackageChange,
  parsePackageTarget,
  type UpdateTargets,
} from "../../lock/update.js";
import { artifactDescriptor } from "../../oci/image.js";
import { type ImageLocation, locationText } from "../../oci/locations/name.js";
import type { ImageUpdate } from "../../pipeline/update.js";
import { updateInPlace, updateLocations } from "../../pipeline/update-in-place.js";
import type { SignReport } from "../../sign/sign-image.js";
import { StrataError } from "../../util/errors.js";
import type { CommandDef } from "../command.js";
import {
  formatOption,
  type OutputFormat,
  type PushFlags,
  pushPrinter,
  registryOptions,
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
  const { image, destination } = await updateLocations(imageText, opts);
  const key = await signingKeyOf(opts);
  const started = performance.now();
  const printer = pushPrinter(o);
  const request = {
    ...opts,
    image,
    destination,
    targets,
    specPath: opts.spec,
    key,
    registry: registryOptions(opts),
  };
  const watcher = {
    ...printer,
    onWritten: (location: ImageLocation) => o.line(`wrote ${locationText(location)}`),
    onSigned: (report: SignReport) => printSignReport(report, false, o),
  };
  const { update, push, downloaded, lockPath } = await updateInPlace(request, watcher).finally(() =>
    printer.stop(),
  );
  if (!update.build) {
    o.line(`${locationText(image)}: nothing to update (the repositories offer nothing newer)`);
    if (opts.json) o.json({ changes: [], bytesSent: 0 });
    return;
  }
  for (const line of changeLines(update)) o.line(line);
  o.line(provenanceLine(update, locationText(image), opts.verify === true));
  if (lockPath) o.line(`updated ${lockPath}`);
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
