import { type AddEvent, addLocations } from "../../fleet/add-locations.js";
import { removeNames, syncRegistries } from "../../fleet/index-commands.js";
import type { IndexedImage, IndexStats } from "../../fleet/lookups.js";
import { refText } from "../../fleet/ref-text.js";
import type { SyncEvent, SyncReport } from "../../fleet/sync.js";
import { StrataError } from "../../util/errors.js";
import type { AnyCommandDef, CommandDef } from "../command.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import { type IndexFlags, withIndex, withIndexFlag } from "../index-flags.js";
import { formatBytes, type Output, reportError } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";

/** An image already in the index is only named again: say so, rather than as if it were new. */
function addedLine(where: string, added: boolean, facts: string): string {
  return added ? `indexed ${where}: ${facts}` : `unchanged ${where}: ${facts}, already indexed`;
}

function syncLine(event: SyncEvent): string {
  switch (event.kind) {
    case "indexed":
      return addedLine(
        `${event.ref} (${event.platform})`,
        event.added,
        `${event.packages} packages${event.note === undefined ? "" : `; note: ${event.note}`}`,
      );
    case "skipped":
      return `skipped ${event.ref}: ${event.why}`;
    case "failed":
      return `failed ${event.ref}: ${event.error.message}`;
    case "removed":
      return `removed ${event.ref} (gone from the registry)`;
  }
}

function imageLine(image: IndexedImage): string {
  const names = image.superseded ? "(superseded: no tag names it)" : image.refs.map(refText).join(", ");
  const size = image.size === null ? "?" : formatBytes(image.size);
  return `${image.digest}  ${image.platform.padEnd(14)}  ${size.padStart(10)}  ${names}`;
}

type AddFlags = IndexFlags & RegistryFlags;

async function add([locations]: [string[]], flags: AddFlags, out: Output): Promise<void> {
  const onEvent = (e: AddEvent) => {
    if (e.kind === "failed") return reportError(e.error);
    if (e.note !== undefined) out.line(`note: ${e.note}`);
    out.line(addedLine(e.where, e.added, `${e.manifest}, ${e.packages} packages`));
  };
  await withIndex(flags, (index) =>
    addLocations(index, locations, { registry: registryOptions(flags), onEvent }),
  );
}

function syncReportLine(r: SyncReport): string {
  return (
    `${r.registry}: ${r.repositories} repositories, ${r.tags} tags: ${r.indexed} indexed, ${r.unchanged} unchanged, ` +
    `${r.skipped} skipped, ${r.failed} failed, ${r.removed} removed; ${formatBytes(r.bytesRead)} read`
  );
}

async function sync([targets]: [string[]], flags: AddFlags, out: Output): Promise<void> {
  const reports = await syncRegistries(targets, flags.index, {
    registry: registryOptions(flags),
    onEvent: (e) => (e.kind === "failed" ? reportError(e.error) : out.line(syncLine(e))),
  });
  if (flags.json) out.json(reports);
  else for (const r of reports) process.stdout.write(`${syncReportLine(r)}\n`);
  const failed = reports.reduce((n, r) => n + r.failed, 0);
  if (failed > 0) {
    throw new StrataError("REGISTRY", `${failed} tags could not be indexed (see above)`, {
      hint: "run the sync again once the problem is fixed: it reads only what it has not indexed",
    });
  }
}

async function list(_: [], flags: IndexFlags & { all?: boolean }, out: Output): Promise<void> {
  const images = await withIndex(flags, (index) => index.images({ all: flags.all }));
  if (flags.json) out.json(images);
  else if (images.length > 0) process.stdout.write(`${images.map(imageLine).join("\n")}\n`);
}

async function remove([names]: [string[]], flags: IndexFlags): Promise<void> {
  await removeNames(names, flags.index, (removed) =>
    process.stdout.write(
      `removed ${removed.name}: ${removed.refs} names, ${removed.images} images left the index\n`,
    ),
  );
}

function statsLines(where: string, stats: IndexStats): string[] {
  const lines = [
    `index: ${where} (schema version ${stats.schemaVersion})`,
    `images: ${stats.images} (${stats.refs} names)`,
    `layers: ${stats.layers}`,
    `packages: ${stats.packages} distinct; ${stats.layerPackages} stored by layer for ${stats.imagePackages} in images`,
    `bytes: ${formatBytes(stats.layerBytes)} in layers stored once; ${formatBytes(stats.imageBytes)} as images (as if unshared)`,
  ];
  if (stats.superseded > 0)
    lines.push(
      `superseded: ${stats.superseded} images no tag names any more (strata index prune removes them)`,
    );
  if (stats.unsizedImages + stats.unsizedLayers > 0)
    lines.push(
      `sizes unknown for ${stats.unsizedImages} images and ${stats.unsizedLayers} layers indexed before sizes were kept (index add or sync them again)`,
    );
  return lines;
}

async function showStats(_: [], flags: IndexFlags, out: Output): Promise<void> {
  const { where, stats } = await withIndex(flags, async (index) => ({
    where: index.where,
    stats: await index.stats(),
  }));
  if (flags.json) out.json({ index: where, ...stats });
  else process.stdout.write(`${statsLines(where, stats).join("\n")}\n`);
}

function prunedLine(image: IndexedImage): string {
  const size = image.size === null ? "?" : formatBytes(image.size);
  return `pruned ${image.digest}  ${image.platform}  ${size}`;
}

async function prune(_: [], flags: IndexFlags, out: Output): Promise<void> {
  const pruned = await withIndex(flags, (index) => index.prune());
  if (flags.json) {
    out.json(pruned);
    return;
  }
  const lines = [
    ...pruned.images.map(prunedLine),
    `${pruned.images.length} superseded images and ${pruned.layers} layers left the index`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

const IMAGES_ARGUMENT =
  "oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE, docker://REF, a path or REF";

const subcommands: AnyCommandDef[] = [
  {
    name: "add",
    summary:
      "add images from any image locations (a strata image is read from its manifest and config alone)",
    arguments: [{ name: "<image...>", description: IMAGES_ARGUMENT }],
    options: (cmd) => withRegistryFlags(withIndexFlag(cmd)),
    examples: ["strata index add docker://reg.example/team/app:1 oci:out/app"],
    handler: add,
  } satisfies CommandDef<AddFlags, [string[]]>,
  {
    name: "sync",
    summary: "index every repository (the catalog) and tag of registries, reading only tags that moved",
    arguments: [
      {
        name: "<registry...>",
        description: "REGISTRY (every repository) or REGISTRY/REPOSITORY, e.g. 127.0.0.1:5000/team/app",
      },
    ],
    options: (cmd) =>
      withRegistryFlags(withIndexFlag(cmd.option("--json", "print the sync reports as JSON on stdout"))),
    examples: ["strata index sync reg.example reg.example/team/app"],
    handler: sync,
  } satisfies CommandDef<AddFlags, [string[]]>,
  {
    name: "ls",
    summary: "list the indexed images and their names",
    options: (cmd) =>
      withIndexFlag(
        cmd
          .option("--all", "superseded images too (no tag names them any more)")
          .option("--json", "print JSON on stdout"),
      ),
    examples: ["strata index ls --json", "strata index ls --all"],
    handler: list,
  } satisfies CommandDef<IndexFlags & { all?: boolean }, []>,
  {
    name: "rm",
    summary: "take images out of the index (by name, or by manifest or config digest)",
    arguments: [
      {
        name: "<image...>",
        description: "REGISTRY/REPO[:TAG] (no tag: every tag), a local image location, or sha256:DIGEST",
      },
    ],
    options: withIndexFlag,
    examples: ["strata index rm reg.example/team/app:1"],
    handler: remove,
  } satisfies CommandDef<IndexFlags, [string[]]>,
  {
    name: "stats",
    summary: "what the index holds, and where it is",
    options: (cmd) => withIndexFlag(cmd.option("--json", "print JSON on stdout")),
    examples: ["strata index stats"],
    handler: showStats,
  } satisfies CommandDef<IndexFlags, []>,
  {
    name: "prune",
    summary: "remove superseded images (no tag names them any more) and the layers only they held",
    options: (cmd) => withIndexFlag(cmd.option("--json", "print what was removed as JSON on stdout")),
    examples: ["strata index prune", "strata index prune --json"],
    handler: prune,
  } satisfies CommandDef<IndexFlags, []>,
];

export const command: CommandDef = {
  name: "index",
  summary: "the fleet index: every image of your registries by content, on SQLite or PostgreSQL",
  notes:
    "\nThe index is a SQLite file ($XDG_DATA_HOME/strata/index.db) unless --index or STRATA_INDEX names\n" +
    "another file or a PostgreSQL database (postgres://USER[:PASSWORD]@HOST[:PORT]/DB). Ask it with strata query.",
  examples: ["strata index sync reg.example", "strata index add oci:out/app"],
  subcommands,
};
