import type { FastifyInstance } from "fastify";
import { SBOM_FORMATS, SBOM_MEDIA_TYPES, type SbomFormat } from "../sbom/sbom.js";
import { fleetBytes, type ImageRow } from "./fleet-data.js";
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

/** `?all=true`: superseded images (no tag names them any more) too; left out by default. */
const ALL_QUERY = {
  querystring: {
    type: "object",
    // Query strings are not coerced (server.ts): the flag is spelled out.
    properties: { all: { type: "string", enum: ["true", "false"] } },
    additionalProperties: false,
  },
};

/** `GET /api/fleet`'s answer: the images, the fleet's bytes and the advisory feeds stored. */
export async function fleetAnswer(view: FleetView, opts: { all?: boolean } = {}) {
  return {
    images: await view.fleet(opts),
    bytes: await fleetBytes(view.index.db),
    advisories: await view.vulnerabilities.feeds(),
  };
}

export function registerApi(app: FastifyInstance, view: FleetView): void {
  app.get<{ Querystring: { all?: string } }>("/api/fleet", { schema: ALL_QUERY }, (request) =>
    fleetAnswer(view, { all: request.query.all === "true" }),
  );

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

  app.get<{ Querystring: { all?: string } }>("/api/vulnerable", { schema: ALL_QUERY }, async (request) => ({
    images: await view.vulnerable({ all: request.query.all === "true" }),
  }));

  app.get("/api/runs", async () => ({ runs: await view.runs() }));
}
