import type { FastifyInstance } from "fastify";
import type { ImageRow } from "../fleet/image-rows.js";
import type { PageRequest } from "../fleet/page.js";
import { SBOM_FORMATS, SBOM_MEDIA_TYPES, type SbomFormat } from "../sbom/sbom.js";
import { StrataError } from "../util/errors.js";
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

/** A download's file name: the image's repository (its last part) and short digest, header-safe. */
function sbomFileStem(image: ImageRow): string {
  const repository = image.refs[0]?.repository.split(/[/:]/).at(-1) ?? "image";
  const safe = repository.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 64) || "image";
  return `${safe}-${image.digest.slice("sha256:".length, "sha256:".length + 12)}`;
}

/** The largest page the API answers: a list's answer is bounded whatever the fleet's size. */
export const API_MAX_LIMIT = 1000;

/** `?limit=N&offset=N`: a page of a list (query strings are not coerced, server.ts: digits, checked here). */
export const PAGE_PROPERTIES = {
  limit: { type: "string", pattern: "^[0-9]{1,4}$" },
  offset: { type: "string", pattern: "^[0-9]{1,9}$" },
};

export interface PageQuery {
  limit?: string;
  offset?: string;
}

/** The page a request asks for; past API_MAX_LIMIT, or 0, is the caller's mistake (400). */
export function pageOfQuery(query: PageQuery): PageRequest {
  const limit = query.limit === undefined ? undefined : Number(query.limit);
  if (limit !== undefined && (limit < 1 || limit > API_MAX_LIMIT))
    throw new StrataError("USAGE", `limit ${limit} is not between 1 and ${API_MAX_LIMIT}`, {
      hint: "ask for a page of at most 1000 and move on with offset",
    });
  return { limit, offset: query.offset === undefined ? undefined : Number(query.offset) };
}

/** `?all=true`: superseded images (no tag names them any more) too; left out by default. And a page. */
const ALL_QUERY = {
  querystring: {
    type: "object",
    properties: { all: { type: "string", enum: ["true", "false"] }, ...PAGE_PROPERTIES },
    additionalProperties: false,
  },
};

/** `GET /api/fleet`'s answer: a page of the images, their totals, the fleet's bytes and the advisory feeds stored. */
export async function fleetAnswer(view: FleetView, opts: { all?: boolean } = {}, page?: PageRequest) {
  const { items, ...rest } = await view.fleet(opts, page);
  return { images: items, ...rest, advisories: await view.vulnerabilities.feeds() };
}

export function registerApi(app: FastifyInstance, view: FleetView): void {
  app.get<{ Querystring: { all?: string } & PageQuery }>("/api/fleet", { schema: ALL_QUERY }, (request) =>
    fleetAnswer(view, { all: request.query.all === "true" }, pageOfQuery(request.query)),
  );

  app.get<{ Querystring: { q: string } & PageQuery }>(
    "/api/search",
    {
      schema: {
        querystring: {
          type: "object",
          properties: { q: { type: "string", minLength: 1, maxLength: 300 }, ...PAGE_PROPERTIES },
          required: ["q"],
          additionalProperties: false,
        },
      },
    },
    async (request) => ({
      query: request.query.q,
      ...(await view.search(request.query.q.trim(), pageOfQuery(request.query))),
    }),
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

  app.get<{ Params: { digest: string }; Querystring: { format: SbomFormat } }>(
    "/api/images/:digest/sbom",
    {
      schema: {
        params: { type: "object", properties: { digest: DIGEST }, required: ["digest"] },
        querystring: {
          type: "object",
          properties: { format: { type: "string", enum: [...SBOM_FORMATS] } },
          required: ["format"],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const { format } = request.query;
      const sbom = await view.sbom(request.params.digest, format);
      const name = `${sbomFileStem(sbom.image)}.${format}.json`;
      return reply
        .type(SBOM_MEDIA_TYPES[format])
        .header("content-disposition", `attachment; filename="${name}"`)
        .header(
          "x-strata-sbom",
          sbom.attached
            ? `attached; from=${sbom.from}`
            : `computed; from=${sbom.from}${sbom.rejected ? "; attached one refused: it disagrees with the image" : ""}`,
        )
        .send(sbom.bytes);
    },
  );

  app.get<{ Querystring: { all?: string } & PageQuery }>(
    "/api/vulnerable",
    { schema: ALL_QUERY },
    (request) => view.vulnerable({ all: request.query.all === "true" }, pageOfQuery(request.query)),
  );

  app.get("/api/runs", async () => ({ runs: await view.runs() }));
}
