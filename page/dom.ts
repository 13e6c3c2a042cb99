/**
 * Building the page's DOM: every text from the API goes in through text nodes, never as HTML, so
 * a package name or ref cannot become markup.
 */

type Child = Node | string | number | null | undefined | false;

/** What h() makes elements with: the browser's document, or the server's markup (src/serve/markup.ts). */
export type ElementMaker = Pick<Document, "createElement" | "createTextNode">;

let maker: ElementMaker | undefined;

/** Runs a synchronous render with `m` making the elements (the server renders a view's first paint). */
export function renderWith<T>(m: ElementMaker, render: () => T): T {
  const previous = maker;
  maker = m;
  try {
    return render();
  } finally {
    maker = previous;
  }
}

export function h(
  tag: string,
  attrs: Record<string, string> = {},
  ...children: (Child | Child[])[]
): HTMLElement {
  const doc = maker ?? document;
  const el = doc.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "object" ? c : doc.createTextNode(String(c)));
  }
  return el;
}

/**
 * A table with a header row; `numeric` names the columns aligned right, `fit` those only as wide
 * as their content (their cells need the class "fit" too).
 */
export function table(
  heads: string[],
  rows: HTMLElement[],
  numeric: number[] = [],
  fit: number[] = [],
): HTMLElement {
  const cls = (i: number): Record<string, string> => {
    const names = [numeric.includes(i) ? "num" : "", fit.includes(i) ? "fit" : ""].filter(Boolean);
    return names.length > 0 ? { class: names.join(" ") } : {};
  };
  return h(
    "table",
    fit.length > 0 ? { class: "fit" } : {},
    h("thead", {}, h("tr", {}, ...heads.map((t, i) => h("th", cls(i), t)))),
    h("tbody", {}, ...rows),
  );
}

export function short(digest: string): string {
  return digest.replace(/^sha256:/, "").slice(0, 12);
}

export function ago(ms: number): string {
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 90) return "just now";
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 129600) return `${Math.round(s / 3600)} h ago`;
  return new Date(ms).toISOString().slice(0, 10);
}

export function empty(text: string): HTMLElement {
  return h("div", { class: "empty" }, text);
}

export function errorBox(text: string): HTMLElement {
  return h("div", { class: "error" }, text);
}
