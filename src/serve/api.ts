import type { FastifyInstance } from "fastify";
import type { FleetView } from "./fleet-view.js";

/**
 * The JSON API the page uses (documented in README.md, "strata serve"). Every input is checked by
 * the route's schema before a handler runs; anything else gets 400 with `{ "error": ... }`.
 */

/** A manifest digest, or a ref as the fleet list writes it (registry/repository:tag). */
const IMAGE_NAME = {
  type: "string",
  minLength: 1,
  maxLength: 512,
  pattern: "^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$",
};
const DIGEST = { type: "string", pattern: "^sha256:[0-9a-f]{64}$" };

export function registerApi(app: FastifyInstance, view: FleetView): void {
  app.get("/api/fleet", async () => ({
    images: await view.fleet(),
    advisories: await view.vulnerabilities.feeds(),
  }));

  app.get<{ Querystring: { q: string } }>(
    "/api/search",
    {
      schema: {
        querystring: {
          type: "object",
          properties: { q: { type: "string", minLength: 1, maxLength: 300 } },
          required: ["q"],
          additionalProperties: false,
        },
      },
    },
    async (request) => ({ query: request.query.q, ...(await view.search(request.query.q.trim())) }),
  );

  app.get<{ Params: { digest: string } }>(
    "/api/images/:digest",
    { schema: { params: { type: "object", properties: { digest: DIGEST }, required: ["digest"] } } },
    async (request) => view.image(request.params.digest),
  );

  app.get<{ Params: { digest: string }; Querystring: { against: string } }>(
    "/api/images/:digest/diff",
    {
      schema: {
        params: { type: "object", properties: { digest: DIGEST }, required: ["digest"] },
        querystring: {
          type: "object",
          properties: { against: IMAGE_NAME },
          required: ["against"],
          additionalProperties: false,
        },
      },
    },
    async (request) => view.diff(request.query.against, request.params.digest),
  );

  app.get("/api/vulnerable", async () => ({ images: await view.vulnerable() }));
}
