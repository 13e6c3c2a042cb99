import type { Server } from "node:https";
import { FleetIndex } from "../fleet/fleet-index.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { loadPolicy } from "../policy/policy.js";
import { StrataError } from "../util/errors.js";
import { readNamedFile } from "../util/fs.js";
import { checkTlsPair, listenOn } from "../util/listening.js";
import { readVexFiles } from "../vex/read.js";
import { type RegistryScopeFlags, registryScope } from "./registries.js";
import { serveAdmission } from "./server.js";
import { webhookDecider } from "./webhook.js";

/** How often the webhook reads the index's change counters: how stale a verdict can be. */
const REFRESH_MS = 1000;

/** --listen of the webhook: HOST:PORT, a bracketed IPv6 host or a name or IPv4 address. */
export const ADMISSION_LISTEN = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/;

/** Far beyond a certificate chain or a key. */
const MAX_PEM_BYTES = 1 << 20;

/** A PEM file named by the flag `what`, bounded; a file that cannot be read is one clean error. */
export async function readPem(path: string, what: string): Promise<Buffer> {
  return readNamedFile(path, MAX_PEM_BYTES, (why) => {
    return new StrataError("IO", `${what} ${path}: ${why}`, {
      hint: "give a PEM file (kubectl create secret tls makes tls.crt and tls.key)",
    });
  });
}

export interface AdmissionRequest extends RegistryScopeFlags {
  policy: string;
  tlsCert: string;
  tlsKey: string;
  /** HOST:PORT, checked by ADMISSION_LISTEN. */
  listen: string;
  index?: string;
  audit?: boolean;
  failurePolicy: "open" | "closed";
  /** Seconds to answer within. */
  timeout: number;
  vex?: string[];
  release?: string;
  precompute: boolean;
  maxImages: number;
  registry: RegistryClientOptions;
}

export interface RunningAdmission {
  url: string;
  /** Where the index it reads is. */
  where: string;
  close(): Promise<void>;
}

/**
 * `strata admission serve`: the policy, TLS pair and VEX files read and checked, the index opened,
 * and the webhook listening; `log` hears each request's line.
 */
export async function startAdmission(
  req: AdmissionRequest,
  log: (line: string) => void,
): Promise<RunningAdmission> {
  const scope = registryScope(req);
  const policy = await loadPolicy(req.policy);
  const [cert, key] = [await readPem(req.tlsCert, "--tls-cert"), await readPem(req.tlsKey, "--tls-key")];
  checkTlsPair(cert, key, { cert: req.tlsCert, key: req.tlsKey });
  const vex = await readVexFiles(req.vex ?? []);
  const index = await FleetIndex.open(req.index);
  const decider = webhookDecider({
    policy,
    index,
    registry: req.registry,
    scope,
    release: req.release,
    vex,
    refreshMs: REFRESH_MS,
    maxImages: req.maxImages,
  });
  const [, bracketed, portText] = ADMISSION_LISTEN.exec(req.listen)!;
  const [host, port] = [bracketed.replace(/^\[|\]$/g, ""), Number(portText)];
  const { server, url } = await listenOn(req.listen, () =>
    serveAdmission(decider, {
      cert,
      key,
      host,
      port,
      audit: Boolean(req.audit),
      failurePolicy: req.failurePolicy,
      deadlineMs: req.timeout * 1000,
      log,
      precompute: req.precompute ? { everyMs: REFRESH_MS, maxImages: req.maxImages } : undefined,
    }),
  );
  return { url, where: index.where, close: () => stop(server, index) };
}

async function stop(server: Server, index: FleetIndex): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await index.close();
}
