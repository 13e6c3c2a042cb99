import { fileURLToPath } from "node:url";
import { FleetIndex } from "../../fleet/fleet-index.js";
import { FleetView } from "../../serve/fleet-view.js";
import { parseListen } from "../../serve/listen.js";
import { buildServer } from "../../serve/server.js";
import { Vulnerabilities } from "../../serve/vulnerabilities.js";
import { StrataError } from "../../util/errors.js";
import { listenOn } from "../../util/listening.js";
import type { CommandDef } from "../command.js";
import { type IndexFlags, withIndexFlag } from "../index-flags.js";
import type { Output } from "../output.js";

interface ServeFlags extends IndexFlags {
  listen: string;
  allowRemote?: boolean;
}

/** The page's files sit beside the bundled CLI (scripts/build.mjs writes dist/page). */
const PAGE_DIR = fileURLToPath(new URL("./page/", import.meta.url));

async function serve(flags: ServeFlags, out: Output): Promise<void> {
  const listen = parseListen(flags.listen);
  if (!listen.loopback && !flags.allowRemote) {
    throw new StrataError("USAGE", `--listen ${flags.listen} is not a loopback address`, {
      hint: "the page has no authentication: add --allow-remote to serve it to the network anyway",
    });
  }
  const index = await FleetIndex.open(flags.index);
  const view = new FleetView(index, new Vulnerabilities(index));
  const app = await buildServer({ view, pageDir: PAGE_DIR, listen });
  if (!listen.loopback) {
    out.line(
      `strata: warning: serving ${listen.host} without authentication: anyone who reaches it reads the fleet`,
    );
  }
  await listenOn(flags.listen, () => app.listen({ host: listen.host, port: listen.port }));
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : listen.port;
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  process.stdout.write(`strata: serving ${index.where} at http://${host}:${port}/\n`);
  await new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve());
  });
  await app.close();
  await index.close();
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
