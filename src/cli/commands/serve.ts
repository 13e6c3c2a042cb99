import { fileURLToPath } from "node:url";
import { startFleetPage } from "../../serve/start.js";
import type { CommandDef } from "../command.js";
import { type IndexFlags, withIndexFlag } from "../index-flags.js";
import type { Output } from "../output.js";
import { untilStopped } from "../until-stopped.js";

interface ServeFlags extends IndexFlags {
  listen: string;
  allowRemote?: boolean;
}

/** The page's files sit beside the bundled CLI (scripts/build.mjs writes dist/page). */
const PAGE_DIR = fileURLToPath(new URL("./page/", import.meta.url));

async function serve(flags: ServeFlags, out: Output): Promise<void> {
  const onWarning = (warning: string) => out.line(`strata: warning: ${warning}`);
  const running = await startFleetPage({ ...flags, pageDir: PAGE_DIR, onWarning });
  process.stdout.write(`strata: serving ${running.where} at ${running.url}\n`);
  await untilStopped();
  await running.close();
}

export const command: CommandDef<ServeFlags, []> = {
  name: "serve",
  summary: "serve a web page over the fleet index: images, search, layers, vulnerabilities, diffs",
  options: (cmd) =>
    withIndexFlag(
      cmd
        .option("--listen <host:port>", "where to listen (port 0 picks a free one)", "127.0.0.1:8080")
        .option(
          "--allow-remote",
          "listen on an address other than loopback (the page has no authentication)",
        ),
    ),
  notes: [
    "",
    "The page and its JSON API (/api/fleet, /api/search?q=, /api/images/DIGEST, /api/images/DIGEST/diff?against=,",
    "/api/vulnerable) are described in the README. Vulnerabilities come from the advisories stored in",
    "the index (strata advisories update). Stop with Ctrl-C.",
  ].join("\n"),
  examples: ["strata serve --listen 127.0.0.1:8080 --index postgres://strata@db/fleet"],
  handler: (_, flags, out) => serve(flags, out),
};
