import { FleetIndex } from "../fleet/fleet-index.js";
import { StrataError } from "../util/errors.js";
import { listenOn } from "../util/listening.js";
import { FleetView } from "./fleet-view.js";
import { parseListen } from "./listen.js";
import { buildServer } from "./server.js";
import { Vulnerabilities } from "./vulnerabilities.js";

export interface FleetPageRequest {
  /** HOST:PORT (port 0 picks a free one). */
  listen: string;
  /** Serve to an address other than loopback: the page has no authentication. */
  allowRemote?: boolean;
  index?: string;
  /** The page's files. */
  pageDir: string;
  /** Said before a page without authentication listens beyond loopback. */
  onWarning: (warning: string) => void;
}

export interface RunningFleetPage {
  /** http://HOST:PORT/ it is served at (the port it got, a bracketed IPv6 host). */
  url: string;
  /** Where the index it reads is. */
  where: string;
  close(): Promise<void>;
}

/** `strata serve`: the fleet index opened and its web page listening (loopback unless allowed). */
export async function startFleetPage(req: FleetPageRequest): Promise<RunningFleetPage> {
  const listen = parseListen(req.listen);
  if (!listen.loopback && !req.allowRemote) {
    throw new StrataError("USAGE", `--listen ${req.listen} is not a loopback address`, {
      hint: "the page has no authentication: add --allow-remote to serve it to the network anyway",
    });
  }
  const index = await FleetIndex.open(req.index);
  const view = new FleetView(index, new Vulnerabilities(index));
  const app = await buildServer({ view, pageDir: req.pageDir, listen });
  if (!listen.loopback)
    req.onWarning(`serving ${listen.host} without authentication: anyone who reaches it reads the fleet`);
  await listenOn(req.listen, () => app.listen({ host: listen.host, port: listen.port }));
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : listen.port;
  const host = listen.host.includes(":") ? `[${listen.host}]` : listen.host;
  const close = async () => {
    await app.close();
    await index.close();
  };
  return { url: `http://${host}:${port}/`, where: index.where, close };
}
