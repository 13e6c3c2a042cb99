import { readFile } from "node:fs/promises";
import { join } from "node:path";
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { isStrataError } from "../util/errors.js";
import { registerApi } from "./api.js";
import { registerFirstViews } from "./first-view.js";
import { type FleetView, NotIndexed } from "./fleet-view.js";
import { ImageUnreachable } from "./image-sbom.js";
import { isLoopbackHost, type ListenAddress } from "./listen.js";

/**
 * `strata serve`'s HTTP server: the JSON API under /api/, the page's paths with their first view
 * rendered (first-view.ts), and its script and style, read once at start with index.html (they are
 * small, and a page must not change under a running server).
 */

const PAGE_FILES: Record<string, { file: string; type: string }> = {
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
};

/** Nothing from elsewhere: the page loads only its own script and style. */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

export interface PageServerOptions {
  view: FleetView;
  /** The directory holding index.html, app.js and style.css (dist/page). */
  pageDir: string;
  listen: ListenAddress;
}

/** Where a caller who asked for something the API does not have can see what it has. */
const API_HINT =
  "the pages and the JSON API's paths and parameters are in the README (strata serve, JSON API)";

function sendError(reply: FastifyReply, status: number, error: string, hint?: string) {
  return reply.code(status).send(hint === undefined ? { error } : { error, hint });
}

async function pageFiles(dir: string): Promise<Map<string, { body: Buffer; type: string }>> {
  const out = new Map<string, { body: Buffer; type: string }>();
  for (const [path, { file, type }] of Object.entries(PAGE_FILES)) {
    out.set(path, { body: await readFile(join(dir, file)), type });
  }
  return out;
}

/** Builds the server (not yet listening). */
export async function buildServer(opts: PageServerOptions): Promise<FastifyInstance> {
  const files = await pageFiles(opts.pageDir);
  const app = Fastify({
    logger: false,
    bodyLimit: 1024,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    // An unknown parameter is a mistake to report, not to drop silently; no type coercion either.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
  });
  // Every route refuses query parameters it does not name, the ones without any included.
  app.addHook("onRoute", (route) => {
    if (route.schema?.querystring !== undefined) return;
    route.schema = { ...route.schema, querystring: { type: "object", additionalProperties: false } };
  });
  app.addHook("onRequest", async (request, reply) => {
    reply.headers(SECURITY_HEADERS);
    if (opts.listen.loopback && !isLoopbackHost(request.headers.host, opts.listen.host)) {
      return sendError(
        reply,
        421,
        "this server answers only requests for its loopback address",
        "open it as http://127.0.0.1:PORT/, or start it with --allow-remote",
      );
    }
  });
  app.setErrorHandler((err: Error, _request, reply) => {
    if ((err as { validation?: unknown }).validation !== undefined)
      return sendError(reply, 400, err.message, API_HINT);
    if (err instanceof NotIndexed) return sendError(reply, 404, err.message, err.hint);
    if (err instanceof ImageUnreachable)
      return sendError(reply, err.timedOut ? 504 : 502, err.message, err.hint);
    if (isStrataError(err)) return sendError(reply, err.code === "USAGE" ? 400 : 500, err.message, err.hint);
    const status = (err as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) return sendError(reply, status, err.message);
    process.stderr.write(`strata: error: serve: ${err.message.split("\n")[0]}\n`);
    return sendError(reply, 500, "internal error");
  });
  app.setNotFoundHandler((_request, reply) => sendError(reply, 404, "no such page or API", API_HINT));
  for (const [path, { body, type }] of files) app.get(path, (_request, reply) => reply.type(type).send(body));
  registerFirstViews(app, opts.view, await readFile(join(opts.pageDir, "index.html"), "utf8"));
  registerApi(app, opts.view);
  return app;
}
