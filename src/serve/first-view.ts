import type { FastifyInstance, FastifyReply } from "fastify";
import { fleetAnswer, PAGE_PROPERTIES, type PageQuery, pageOfQuery } from "./api.js";
import { type FleetView, NotIndexed } from "./fleet-view.js";
import { renderMarkup } from "./markup.js";
import { errorBox, h } from "./page/dom.js";
import { imageContent } from "./page/image-view.js";
import { listKey, PAGE_SIZE } from "./page/parts.js";
import { runsContent } from "./page/runs-view.js";
import { fleetContent, vulnerableContent } from "./page/views.js";

/**
 * The page's paths, each sent with its view already in the HTML: the fleet list (/), an image
 * (/image/DIGEST), the vulnerable images (/vulnerable) and what strata run ran (/runs). A text browser, a headless screenshot
 * or a slow machine sees the content without running a script; app.js then adds search, the diff
 * and navigation. The views are the page's own (src/serve/page/), built here as markup.
 */

/** Where index.html keeps the view; it holds a placeholder for when no first view is rendered. */
const MAIN = /<main id="main">[\s\S]*?<\/main>/;

/** The page with `html` as its first view, named `key` so the script does not fetch it again. */
function pageWith(template: string, key: string, html: string): string {
  const keyText = key.replace(/[^a-z0-9: ]/g, "");
  return template.replace(MAIN, () => `<main id="main" data-rendered="${keyText}">${html}</main>`);
}

const DIGEST = { type: "string", pattern: "^sha256:[0-9a-f]{64}$" };
/** `?offset=N&limit=N&all=true`: a list's page, superseded images too (its links work without the script). */
const PAGE_QUERY = {
  querystring: {
    type: "object",
    properties: { all: { type: "string", enum: ["true", "false"] }, ...PAGE_PROPERTIES },
    additionalProperties: false,
  },
};
type ListQuery = PageQuery & { all?: string };

/** The page a first view shows: the API's rules, PAGE_SIZE unless the URL names a size. */
function pageAt(query: ListQuery): { offset: number; limit: number; all: boolean } {
  const page = pageOfQuery(query);
  const limit = typeof page.limit === "number" ? page.limit : PAGE_SIZE;
  return { offset: page.offset ?? 0, limit, all: query.all === "true" };
}
const HTML = "text/html; charset=utf-8";

export function registerFirstViews(app: FastifyInstance, view: FleetView, template: string): void {
  if (!MAIN.test(template)) throw new Error('index.html has no <main id="main">');
  const send = (reply: FastifyReply, key: string, render: () => HTMLElement) =>
    reply.type(HTML).send(pageWith(template, key, renderMarkup(render)));

  app.get<{ Querystring: ListQuery }>("/", { schema: PAGE_QUERY }, async (request, reply) => {
    const at = pageAt(request.query);
    const answer = await fleetAnswer(view, { all: at.all }, at);
    return send(reply, listKey("fleet", at), () => fleetContent(answer, at.all));
  });
  app.get("/runs", async (_request, reply) => {
    const runs = await view.runs();
    return send(reply, "runs", () => runsContent({ runs }));
  });
  app.get<{ Querystring: ListQuery }>("/vulnerable", { schema: PAGE_QUERY }, async (request, reply) => {
    const at = pageAt(request.query);
    const answer = await view.vulnerable({ all: at.all }, at);
    return send(reply, listKey("vulnerable", at), () => vulnerableContent(answer, at.all));
  });
  app.get<{ Params: { digest: string } }>(
    "/image/:digest",
    { schema: { params: { type: "object", properties: { digest: DIGEST }, required: ["digest"] } } },
    async (request, reply) => {
      const { digest } = request.params;
      try {
        const [answer, fleet] = await Promise.all([view.image(digest), fleetAnswer(view)]);
        return send(reply, `image ${digest}`, () => imageContent(answer, fleet));
      } catch (err) {
        if (!(err instanceof NotIndexed)) throw err;
        reply.code(404);
        return send(reply, "", () =>
          h("section", {}, h("h1", {}, "Not in the index"), errorBox(`${err.message} (${err.hint})`)),
        );
      }
    },
  );
}
