import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { isStrataError } from "../util/errors.js";
import type { ImageDecider } from "./decider.js";
import { Metrics } from "./metrics.js";
import { type PrecomputeOptions, precomputeFacts } from "./precompute.js";
import { parseReview, reviewResponse } from "./review.js";
import { answerReview, type WebhookOptions } from "./webhook.js";

/** The API server sends at most about 3 MiB of object; a longer body is not a review. */
const MAX_BODY_BYTES = 4 * 2 ** 20;

export interface WebhookServerOptions extends WebhookOptions {
  cert: string | Buffer;
  key: string | Buffer;
  host: string;
  port: number;
  /** Where a line per unexpected failure goes (default stderr). */
  log?: (line: string) => void;
  /** A TLS handshake not done by then is dropped (default 5 s). */
  handshakeTimeoutMs?: number;
  /** Connections open at once; more are refused (default 512). */
  maxConnections?: number;
  /** Read the facts of the indexed images in the background, at start and when the index changes. */
  precompute?: Omit<PrecomputeOptions, "log">;
}

class BadRequest extends Error {}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BadRequest(`body longer than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new BadRequest("body is not JSON");
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) }).end(body);
}

async function validate(
  req: IncomingMessage,
  res: ServerResponse,
  decider: ImageDecider,
  opts: WebhookServerOptions,
  metrics: Metrics,
) {
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  let review: ReturnType<typeof parseReview>;
  try {
    review = parseReview(await readBody(req));
  } catch (err) {
    metrics.record("malformed", seconds());
    const message = err instanceof BadRequest || isStrataError(err) ? err.message : "unreadable request";
    send(res, 400, "application/json", JSON.stringify({ error: message }));
    return;
  }
  try {
    const { answer, outcome } = await answerReview(decider, review, opts);
    metrics.record(outcome, seconds());
    send(res, 200, "application/json", JSON.stringify(reviewResponse(review.uid, answer)));
  } catch (err) {
    // A pod spec that is not one (podImages) is the request's fault; anything else is ours.
    const malformed = isStrataError(err, "USAGE");
    metrics.record(malformed ? "malformed" : "failed-closed", seconds());
    if (malformed) send(res, 400, "application/json", JSON.stringify({ error: (err as Error).message }));
    else send(res, 500, "application/json", JSON.stringify({ error: "internal error" }));
    if (!malformed) opts.log?.(`strata: admission: ${(err as Error).stack ?? err}`);
  }
}

/** Starts the HTTPS webhook: POST /validate, GET /healthz, GET /metrics. */
export async function serveAdmission(
  decider: ImageDecider,
  opts: WebhookServerOptions,
): Promise<{ server: Server; url: string; metrics: Metrics }> {
  const metrics = new Metrics();
  const handshakeTimeout = opts.handshakeTimeoutMs ?? 5000;
  const server = createServer({ cert: opts.cert, key: opts.key, handshakeTimeout }, (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "POST" && path === "/validate") {
      validate(req, res, decider, opts, metrics).catch(() => res.destroy());
    } else if (req.method === "GET" && path === "/healthz") {
      send(res, 200, "text/plain", "ok\n");
    } else if (req.method === "GET" && path === "/metrics") {
      send(res, 200, "text/plain; version=0.0.4", metrics.text(decider.counts()));
    } else {
      send(
        res,
        404,
        "application/json",
        JSON.stringify({ error: `no ${req.method} ${path}; POST /validate, GET /healthz, GET /metrics` }),
      );
    }
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 65_000;
  server.maxConnections = opts.maxConnections ?? 512;
  server.on("clientError", (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  if (opts.precompute) {
    const warming = precomputeFacts(decider, { ...opts.precompute, log: opts.log });
    server.once("close", () => warming.stop());
  }
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return { server, url: `https://${host}:${port}`, metrics };
}
