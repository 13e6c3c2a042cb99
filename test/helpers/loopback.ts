import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { after, before } from "node:test";

/** Hostile HTTP servers on loopback for the network tests: silent, trickling, endless. */

/** A loopback HTTP server running `handler`; `close` also drops connections it left hanging. */
export async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Streams zeros as fast as the client takes them, until it hangs up; `sent()` says how many. */
export function endlessBody(headers: Record<string, string> = {}) {
  let sent = 0;
  let requests = 0;
  const handler = (_req: IncomingMessage, res: ServerResponse) => {
    requests++;
    res.writeHead(200, { "content-type": "application/octet-stream", ...headers });
    const chunk = Buffer.alloc(64 << 10);
    const pump = () => {
      while (!res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) {
          res.once("drain", pump);
          return;
        }
      }
    };
    res.on("error", () => {});
    pump();
  };
  return { handler, sent: () => sent, requests: () => requests };
}

/** STRATA_HTTP_TIMEOUT (seconds) for the tests of the enclosing describe, restored after them. */
export function shortHttpTimeout(seconds: string): void {
  const saved = process.env.STRATA_HTTP_TIMEOUT;
  before(() => {
    process.env.STRATA_HTTP_TIMEOUT = seconds;
  });
  after(() => {
    if (saved === undefined) delete process.env.STRATA_HTTP_TIMEOUT;
    else process.env.STRATA_HTTP_TIMEOUT = saved;
  });
}

/**
 * A TCP server on loopback that accepts and never says a byte (a TLS handshake never ends): counts
 * the connections made, those open now, and the most open at once.
 */
export async function silentServer() {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let mostOpen = 0;
  const server = createNetServer((socket) => {
    accepted++;
    sockets.add(socket);
    mostOpen = Math.max(mostOpen, sockets.size);
    socket.resume(); // reads (and drops) what comes, so a client hanging up is seen
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    accepted: () => accepted,
    open: () => sockets.size,
    mostOpen: () => mostOpen,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
