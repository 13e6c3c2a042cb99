import { isIP } from "node:net";
import { StrataError } from "../util/errors.js";

/** Where `strata serve` listens: a host (name or address) and a port. */
export interface ListenAddress {
  host: string;
  port: number;
  loopback: boolean;
}

const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]{1,253})):(\d{1,5})$/;

function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

/** Parses `HOST:PORT` (`[::1]:8080` for IPv6); a port of 0 picks a free one. */
export function parseListen(text: string): ListenAddress {
  const m = HOST_PORT.exec(text);
  const port = m ? Number(m[3]) : Number.NaN;
  if (m === null || port > 65535) {
    throw new StrataError("USAGE", `--listen ${JSON.stringify(text.slice(0, 80))} is not HOST:PORT`, {
      hint: "for example --listen 127.0.0.1:8080 (or [::1]:8080)",
    });
  }
  const host = m[1] ?? m[2];
  if (m[1] !== undefined && isIP(host) !== 6) {
    throw new StrataError("USAGE", `--listen: ${host} is not an IPv6 address`, { hint: "write [::1]:8080" });
  }
  return { host, port, loopback: isLoopback(host) };
}

/**
 * Whether a loopback server answers a request with this Host header: a web page elsewhere whose
 * name resolves to 127.0.0.1 (DNS rebinding) must not read the fleet through the user's browser.
 */
export function isLoopbackHost(header: string | undefined, listenHost: string): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+)(?::\d{1,5})?$/.exec(header ?? "");
  if (m === null) return false;
  const name = m[1].replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return name === listenHost.toLowerCase() || isLoopback(name);
}
