import { errorBox, h } from "./dom.js";
import { imageView } from "./image-view.js";
import { imageHref, listKey, PAGE_SIZE } from "./parts.js";
import { runsView } from "./runs-view.js";
import { fleetView, type PageAt, searchView, vulnerableView } from "./views.js";

/**
 * The page's router. The server renders the first view of a path (/, /image/DIGEST, /vulnerable, /runs;
 * src/serve/first-view.ts), so the page reads without scripts; this adds search, the diff and
 * moving between views without a reload, by the hash (#/search?q=, #/image/DIGEST?against=).
 */

interface Route {
  nav: string;
  render: () => Promise<HTMLElement>;
  query?: string;
  /** What the server names a first view it rendered (`data-rendered` on main), when it renders this one. */
  key?: string;
}

/** The page of a list the URL names; what is not a count is the first page. */
function pageAt(params: URLSearchParams): PageAt {
  const count = (name: string, max: number) => {
    const n = Number(/^\d{1,9}$/.exec(params.get(name) ?? "")?.[0] ?? Number.NaN);
    return Number.isNaN(n) || n > max ? undefined : n;
  };
  const limit = count("limit", 1000);
  return {
    offset: count("offset", 999_999_999) ?? 0,
    limit: limit === undefined || limit < 1 ? PAGE_SIZE : limit,
    all: params.get("all") === "true",
  };
}

function route(hash: string, pathname: string, search: string): Route {
  const [path, query = ""] = (hash.replace(/^#/, "") || `${pathname}${search}`).split("?", 2);
  const params = new URLSearchParams(query);
  const q = params.get("q") ?? "";
  // A list's page: the server renders the paths' (/?offset=N&limit=N), the script the search's.
  const at = pageAt(params);
  if (path === "/search") return { nav: "", render: () => searchView(q, at), query: q };
  if (path === "/vulnerable")
    return { nav: "vulnerable", render: () => vulnerableView(at), key: listKey("vulnerable", at) };
  if (path === "/runs") return { nav: "runs", render: runsView, key: "runs" };
  const image = /^\/image\/(sha256:[0-9a-f]{64})$/.exec(path);
  const against = params.get("against") ?? undefined;
  if (image)
    return {
      nav: "fleet",
      render: () => imageView(image[1], against),
      key: against === undefined ? `image ${image[1]}` : undefined,
    };
  return { nav: "fleet", render: () => fleetView(at), key: listKey("fleet", at) };
}

async function show(): Promise<void> {
  const main = document.getElementById("main")!;
  const { nav, render, query, key } = route(location.hash, location.pathname, location.search);
  // The box shows the search on screen, not one left over from an earlier view.
  (document.getElementById("q") as HTMLInputElement).value = query ?? "";
  for (const a of document.querySelectorAll<HTMLElement>("[data-nav]"))
    a.classList.toggle("active", a.dataset.nav === nav);
  // The server's first view is this one: nothing to fetch again.
  const rendered = main.dataset.rendered;
  delete main.dataset.rendered;
  if (key !== undefined && rendered === key) return;
  main.setAttribute("aria-busy", "true");
  try {
    main.replaceChildren(await render());
  } catch (err) {
    main.replaceChildren(h("h1", {}, "Something went wrong"), errorBox((err as Error).message));
  }
  main.setAttribute("aria-busy", "false");
}

document.getElementById("search")!.addEventListener("submit", (event) => {
  event.preventDefault();
  const q = (document.getElementById("q") as HTMLInputElement).value.trim();
  if (q) location.hash = `#/search?q=${encodeURIComponent(q)}`;
});
// The diff's Compare button, whether this script or the server made the view.
document.addEventListener("click", (event) => {
  const button = (event.target as Element).closest<HTMLElement>("#diff-button");
  const select = document.getElementById("against") as HTMLSelectElement | null;
  if (!button?.dataset.digest || !select) return;
  location.hash = `#${imageHref(button.dataset.digest)}?against=${encodeURIComponent(select.value)}`;
});
window.addEventListener("hashchange", show);
show();
