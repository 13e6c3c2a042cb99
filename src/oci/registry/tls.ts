import { rootCertificates } from "node:tls";
import { StrataError } from "../../util/errors.js";
import { readRegularFileSync, whyUnread } from "../../util/fs.js";

/**
 * TLS settings for one registry. Node 20's global `fetch` is undici, which accepts a per-request
 * `dispatcher`, but the `undici` package (which exports `Agent`) is not a dependency. The global
 * dispatcher that Node's fetch installs is an undici `Agent`, registered under undici's interop
 * symbol; its constructor builds an agent with our TLS options. When that is not available this
 * module says so and points to the process-wide route, `NODE_EXTRA_CA_CERTS`, which needs nothing.
 */
export interface TlsOptions {
  /** A PEM file of extra CA certificates to trust for this registry (added to Node's roots). */
  caFile?: string;
  /** false: accept any certificate (self-signed test registries). Default true. */
  tlsVerify?: boolean;
}

/** What `fetch` accepts as `init.dispatcher`: opaque here. */
export type Dispatcher = object & { close?: () => Promise<void>; destroy?: () => Promise<void> };

const GLOBAL_DISPATCHER = Symbol.for("undici.globalDispatcher.1");

type AgentConstructor = new (opts: { connect: Record<string, unknown> }) => Dispatcher;

async function undiciAgentConstructor(): Promise<AgentConstructor | undefined> {
  // Node creates the global dispatcher when its fetch implementation first loads.
  if ((globalThis as Record<symbol, unknown>)[GLOBAL_DISPATCHER] === undefined) await fetch("data:,");
  const global = (globalThis as Record<symbol, unknown>)[GLOBAL_DISPATCHER] as
    | { constructor?: unknown }
    | undefined;
  const ctor = global?.constructor;
  return typeof ctor === "function" && ctor.name === "Agent" ? (ctor as AgentConstructor) : undefined;
}

/** Far beyond any CA bundle (Debian's whole one is ~200 KB). */
const MAX_PEM_BYTES = 4 << 20;

function extraCaFromEnv(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  try {
    return [readRegularFileSync(file, MAX_PEM_BYTES).toString("utf8")];
  } catch {
    return [];
  }
}

/**
 * A dispatcher for `fetch` carrying the TLS options and a connect timeout, or undefined when the
 * defaults will do.
 */
export async function tlsDispatcher(
  opts: TlsOptions,
  connectTimeoutMs?: number,
): Promise<Dispatcher | undefined> {
  if (opts.caFile === undefined && opts.tlsVerify !== false && connectTimeoutMs === undefined)
    return undefined;
  const connect: Record<string, unknown> = {};
  if (connectTimeoutMs !== undefined) connect.timeout = connectTimeoutMs;
  if (opts.tlsVerify === false) connect.rejectUnauthorized = false;
  if (opts.caFile !== undefined) {
    let pem: string;
    try {
      pem = readRegularFileSync(opts.caFile, MAX_PEM_BYTES).toString("utf8");
    } catch (err) {
      throw new StrataError("USAGE", `cannot read CA file ${opts.caFile}: ${whyUnread(err)}`, {
        hint: "give --ca-file a PEM file of the registry's CA certificate",
      });
    }
    // Giving `ca` replaces Node's roots, so keep them (and NODE_EXTRA_CA_CERTS) alongside.
    connect.ca = [...rootCertificates, ...extraCaFromEnv(), pem];
  }
  const Agent = await undiciAgentConstructor();
  if (Agent === undefined) {
    throw new StrataError("USAGE", "this Node.js does not expose per-request TLS settings to fetch", {
      hint: "set NODE_EXTRA_CA_CERTS=<ca.pem> for the process instead of a CA file option",
    });
  }
  return new Agent({ connect });
}
