import type { Command } from "commander";
import type { FleetIndex } from "../../fleet/fleet-index.js";
import { refOf } from "../../fleet/home-ref.js";
import type { IndexedImage } from "../../fleet/lookups.js";
import { refText } from "../../fleet/ref-text.js";
import type { RemoveTarget } from "../../fleet/remove.js";
import { parseSyncTarget, type SyncEvent, syncRegistry } from "../../fleet/sync.js";
import { archiveKind } from "../../oci/homes/docker-archive.js";
import { readHome } from "../../oci/homes/homes.js";
import { parseHomeName, sourceHome } from "../../oci/homes/name.js";
import { artifactDescriptor, artifactImages } from "../../oci/image.js";
import { platformText } from "../../oci/platform.js";
import { parseReference } from "../../oci/reference.js";
import { StrataError } from "../../util/errors.js";
import { SHA256_DIGEST } from "../../util/verify.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import { examples } from "../help.js";
import { type IndexFlags, withIndex, withIndexFlag } from "../index-flags.js";
import { formatBytes, type Output, reportError } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";

async function addLocations(
  index: FleetIndex,
  locations: string[],
  flags: IndexFlags & RegistryFlags,
  out: Output,
) {
  let failed = 0;
  let images = 0;
  for (const location of locations) {
    try {
      const home = await sourceHome(location, archiveKind);
      const artifact = await readHome(home, { registry: registryOptions(flags) });
      const ref = refOf(home, artifactDescriptor(artifact).digest);
      for (const image of artifactImages(artifact)) {
        images++;
        const where = `${location} (${platformText(image)})`;
        try {
          const result = await index.add(image, where, [ref]);
          out.line(addedLine(where, result.added, `${result.manifest}, ${result.packages} packages`));
        } catch (err) {
          failed++;
          reportError(err);
        }
      }
    } catch (err) {
      if (err instanceof StrataError && err.code === "DATABASE") throw err;
      failed++;
      reportError(err);
    }
  }
  if (failed > 0) {
    throw new StrataError(
      "IO",
      `${failed} of ${Math.max(images, failed)} images were not indexed (see above)`,
      {
        hint: "the others are in the index; fix or drop the ones named above and add them again",
      },
    );
  }
}

/** An image already in the index is only named again: say so, rather than as if it were new. */
function addedLine(where: string, added: boolean, facts: string): string {
  return added ? `indexed ${where}: ${facts}` : `unchanged ${where}: ${facts}, already indexed`;
}

function syncLine(event: SyncEvent): string {
  switch (event.kind) {
    case "indexed":
      return addedLine(`${event.ref} (${event.platform})`, event.added, `${event.packages} packages`);
    case "skipped":
      return `skipped ${event.ref}: ${event.why}`;
    case "failed":
      return `failed ${event.ref}: ${event.error.message}`;
    case "removed":
      return `removed ${event.ref} (gone from the registry)`;
  }
}

/** A digest, a registry reference or a local home: what `index rm` takes out. */
function removeTarget(text: string): RemoveTarget {
  if (SHA256_DIGEST.test(text)) return { digest: text };
  const home = parseHomeName(text);
  if (home !== undefined && home.transport !== "docker") {
    const { registry, repository, tag } = refOf(home, "");
    return { ref: { registry, repository, tag } };
  }
  const bare = home?.transport === "docker" ? home.text : text;
  const ref = parseReference(bare);
  if (ref.digest !== undefined) return { digest: ref.digest };
  // No tag written: every tag of the repository.
  const tagWritten = bare.lastIndexOf(":") > bare.lastIndexOf("/");
  return {
    ref: { registry: ref.registry, repository: ref.repository, tag: tagWritten ? (ref.tag ?? "") : "" },
  };
}

function imageLine(image: IndexedImage): string {
  const names = image.superseded ? "(superseded: no tag names it)" : image.refs.map(refText).join(", ");
  const size = image.size === null ? "?" : formatBytes(image.size);
  return `${image.digest}  ${image.platform.padEnd(14)}  ${size.padStart(10)}  ${names}`;
}

function registerAdd(parent: Command, out: () => Output): void {
  withRegistryFlags(
    withIndexFlag(
      parent
        .command("add")
        .description("add images from any homes (a strata image is read from its manifest and config alone)")
        .argument(
          "<image...>",
          "oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE, docker://REF, a path or REF",
        ),
    ),
  )
    .addHelpText("after", examples("strata index add docker://reg.example/team/app:1 oci:out/app"))
    .action(async (locations: string[], flags: IndexFlags & RegistryFlags) => {
      await withIndex(flags, (index) => addLocations(index, locations, flags, out()));
    });
}

function registerSync(parent: Command, out: () => Output): void {
  withRegistryFlags(
    withIndexFlag(
      parent
        .command("sync")
        .description(
          "index every repository (the catalog) and tag of registries, reading only tags that moved",
        )
        .argument(
          "<registry...>",
          "REGISTRY (every repository) or REGISTRY/REPOSITORY, e.g. 127.0.0.1:5000/team/app",
        )
        .option("--json", "print the sync reports as JSON on stdout"),
    ),
  )
    .addHelpText("after", examples("strata index sync reg.example reg.example/team/app"))
    .action(async (targets: string[], flags: IndexFlags & RegistryFlags) => {
      const parsed = targets.map(parseSyncTarget);
      const reports = await withIndex(flags, async (index) => {
        const done = [];
        for (const target of parsed) {
          const report = await syncRegistry(index, target, {
            registry: registryOptions(flags),
            onEvent: (e) => (e.kind === "failed" ? reportError(e.error) : out().line(syncLine(e))),
          });
          done.push(report);
        }
        return done;
      });
      if (flags.json) process.stdout.write(`${JSON.stringify(reports)}\n`);
      for (const r of flags.json ? [] : reports) {
        process.stdout.write(
          `${r.registry}: ${r.repositories} repositories, ${r.tags} tags: ${r.indexed} indexed, ${r.unchanged} unchanged, ` +
            `${r.skipped} skipped, ${r.failed} failed, ${r.removed} removed; ${formatBytes(r.bytesRead)} read\n`,
        );
      }
      const failed = reports.reduce((n, r) => n + r.failed, 0);
      if (failed > 0) {
        throw new StrataError("REGISTRY", `${failed} tags could not be indexed (see above)`, {
          hint: "run the sync again once the problem is fixed: it reads only what it has not indexed",
        });
      }
    });
}

function registerListing(parent: Command): void {
  withIndexFlag(
    parent
      .command("ls")
      .description("list the indexed images and their names")
      .option("--all", "superseded images too (no tag names them any more)")
      .option("--json", "print JSON on stdout"),
  )
    .addHelpText("after", examples("strata index ls --json", "strata index ls --all"))
    .action(async (flags: IndexFlags & { all?: boolean }) => {
      const images = await withIndex(flags, (index) => index.images({ all: flags.all }));
      const text = flags.json ? JSON.stringify(images) : images.map(imageLine).join("\n");
      if (text !== "") process.stdout.write(`${text}\n`);
    });
  withIndexFlag(
    parent
      .command("rm")
      .description("take images out of the index (by name, or by manifest or config digest)")
      .argument("<image...>", "REGISTRY/REPO[:TAG] (no tag: every tag), a local home, or sha256:DIGEST"),
  )
    .addHelpText("after", examples("strata index rm reg.example/team/app:1"))
    .action(async (names: string[], flags: IndexFlags) => {
      const targets = names.map((name) => ({ name, target: removeTarget(name) }));
      await withIndex(flags, async (index) => {
        for (const { name, target } of targets) {
          const removed = await index.remove(target);
          if (removed.refs === 0)
            throw new StrataError("USAGE", `${name} is not in the index ${index.where}`, {
              hint: "see strata index ls",
            });
          process.stdout.write(
            `removed ${name}: ${removed.refs} names, ${removed.images} images left the index\n`,
          );
        }
      });
    });
  withIndexFlag(
    parent
      .command("stats")
      .description("what the index holds, and where it is")
      .option("--json", "print JSON on stdout"),
  )
    .addHelpText("after", examples("strata index stats"))
    .action(async (flags: IndexFlags) => {
      const { where, stats } = await withIndex(flags, async (index) => ({
        where: index.where,
        stats: await index.stats(),
      }));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ index: where, ...stats })}\n`);
        return;
      }
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
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}

function prunedLine(image: IndexedImage): string {
  const size = image.size === null ? "?" : formatBytes(image.size);
  return `pruned ${image.digest}  ${image.platform}  ${size}`;
}

function registerPrune(parent: Command): void {
  withIndexFlag(
    parent
      .command("prune")
      .description("remove superseded images (no tag names them any more) and the layers only they held")
      .option("--json", "print what was removed as JSON on stdout"),
  )
    .addHelpText("after", examples("strata index prune", "strata index prune --json"))
    .action(async (flags: IndexFlags) => {
      const pruned = await withIndex(flags, (index) => index.prune());
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(pruned)}\n`);
        return;
      }
      const lines = [
        ...pruned.images.map(prunedLine),
        `${pruned.images.length} superseded images and ${pruned.layers} layers left the index`,
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}

export function registerIndex(program: Command, out: () => Output): void {
  const parent = program
    .command("index")
    .description("the fleet index: every image of your registries by content, on SQLite or PostgreSQL")
    .addHelpText(
      "after",
      "\nThe index is a SQLite file ($XDG_DATA_HOME/strata/index.db) unless --index or STRATA_INDEX names\n" +
        "another file or a PostgreSQL database (postgres://USER[:PASSWORD]@HOST[:PORT]/DB). Ask it with strata query.",
    )
    .addHelpText("after", examples("strata index sync reg.example", "strata index add oci:out/app"));
  registerAdd(parent, out);
  registerSync(parent, out);
  registerListing(parent);
  registerPrune(parent);
  for (const cmd of parent.commands) cmd.exitOverride();
}
