import { errorBox, h } from "./dom.js";
import { imageView } from "./image-view.js";
import { runsView } from "./runs-view.js";
import { fleetView, searchView, vulnerableView } from "./views.js";

/** The page's router: the hash names the view (#/, #/search?q=, #/image/DIGEST[?against=], #/vulnerable, #/runs). */

function route(hash: string): { nav: string; render: () => Promise<HTMLElement>; query?: string } {
  const [path, query = ""] = hash.replace(/^#/, "").split("?", 2);
  const params = new URLSearchParams(query);
  const q = params.get("q") ?? "";
  if (path === "/search") return { nav: "", render: () => searchView(q), query: q };
  if (path === "/vulnerable") return { nav: "vulnerable", render: vulnerableView };
  if (path === "/runs") return { nav: "runs", render: runsView };
  const image = /^\/image\/(sha256:[0-9a-f]{64})$/.exec(path);
  if (image) return { nav: "fleet", render: () => imageView(image[1], params.get("against") ?? undefined) };
  return { nav: "fleet", render: fleetView };
}

async function show(): Promise<void> {
  const main = document.getElementById("main")!;
  const { nav, render, query } = route(location.hash);
  // The box shows the search on screen, not one left over from an earlier view.
  (document.getElementById("q") as HTMLInputElement).value = query ?? "";
  for (const a of document.querySelectorAll<HTMLElement>("[data-nav]"))
    a.classList.toggle("active", a.dataset.nav === nav);
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
window.addEventListener("hashchange", show);
show();
