import { formatBytes } from "../../util/format-bytes.js";
import type { Finding, FleetImage, Image, PageOf } from "./api.js";
import { h } from "./dom.js";

/** Pieces several views show: an image's names, severity badges, a findings table row. */

export const SEVERITY_ORDER = ["critical", "high", "medium", "low", "negligible", "unknown"] as const;

export function refName(r: { registry: string; repository: string; tag: string }): string {
  return `${r.registry ? `${r.registry}/` : ""}${r.repository}${r.tag ? `:${r.tag}` : ""}`;
}

/** A size from the index, which lacks it for what was indexed before sizes were kept. */
export function sizeText(bytes: number | null): string {
  return bytes === null ? "—" : formatBytes(bytes);
}

/** An image's page: a path the server renders, so links work without scripts too. */
export function imageHref(digest: string): string {
  return `/image/${digest}`;
}

/** The image's repositories, each with its tags. */
export function refsCell(image: Pick<Image, "digest" | "refs">): HTMLElement {
  const byRepo = new Map<string, string[]>();
  for (const r of image.refs) {
    const repo = `${r.registry ? `${r.registry}/` : ""}${r.repository}`;
    byRepo.set(repo, [...(byRepo.get(repo) ?? []), ...(r.tag ? [r.tag] : [])]);
  }
  // No tag names it any more (the API lists such images only with ?all=true).
  if (byRepo.size === 0)
    return h(
      "td",
      { class: "refs muted" },
      h("a", { href: imageHref(image.digest) }, "superseded (no tag names it)"),
    );
  return h(
    "td",
    { class: "refs" },
    ...[...byRepo].map(([repo, tags]) =>
      h(
        "div",
        {},
        h("a", { href: imageHref(image.digest) }, repo),
        " ",
        ...tags.map((t) => h("span", { class: "tag" }, t)),
      ),
    ),
  );
}

export function severityBadges(image: FleetImage): HTMLElement {
  const counts = SEVERITY_ORDER.filter((s) => image.vulnerabilities[s] > 0);
  // No data is never "none": an image nothing covers says so, grey, whatever was found.
  const unknown = image.unknown ? [h("span", { class: "sev unknown", title: image.unknown }, "unknown")] : [];
  if (counts.length === 0) return unknown.length ? unknown[0] : h("span", { class: "ok" }, "none known");
  return h(
    "span",
    {},
    ...unknown,
    ...counts.map((s) =>
      h(
        "span",
        { class: `sev ${s}`, title: `${image.vulnerabilities[s]} ${s}` },
        `${image.vulnerabilities[s]} ${s}`,
      ),
    ),
  );
}

export function severity(s: string): HTMLElement {
  return h("span", { class: `sev ${s}` }, s);
}

/** How a finding is fixed: the version, where it is available, or that Debian has no fix yet. */
export function fixText(f: Finding): string {
  if (f.status !== "fixed") return f.status === "open" ? "no fix yet" : "undetermined";
  return `${f.fixedVersion}${f.availableIn ? ` (${f.availableIn})` : ""}`;
}

export function findingRow(f: Finding): HTMLElement {
  return h(
    "tr",
    {},
    h("td", {}, severity(f.severity)),
    h("td", { class: "mono" }, f.id),
    h("td", { class: "mono" }, f.package),
    h("td", { class: "mono" }, f.version),
    h("td", { class: "mono" }, fixText(f)),
  );
}

export const FINDING_HEADS = ["Severity", "Vulnerability", "Package", "Installed", "Fixed in"];

/** The page size the page asks for unless its URL names one (the API's default). */
export const PAGE_SIZE = 100;

/** A list's page as URL parameters: only what differs from the first page of PAGE_SIZE, current images. */
export function pageParams(offset: number, limit: number | null, all = false): string {
  const params = [
    ...(all ? ["all=true"] : []),
    ...(offset > 0 ? [`offset=${offset}`] : []),
    ...(limit !== null && limit !== PAGE_SIZE ? [`limit=${limit}`] : []),
  ];
  return params.join("&");
}

/** What names a list's first view on the server and in the script: "fleet", "fleet 100 10", "fleet all". */
export function listKey(view: string, at: { offset: number; limit: number; all?: boolean }): string {
  const page = at.offset === 0 && at.limit === PAGE_SIZE ? view : `${view} ${at.offset} ${at.limit}`;
  return at.all ? `${page} all` : page;
}

/**
 * Where a page of a long list is, and links to the pages before and after it: "Showing 101–200 of
 * 1,667 images". `href` makes a link to the page at an offset, of the same size.
 */
export function pager(
  page: PageOf,
  shown: number,
  noun: string,
  href: (offset: number, limit: number | null) => string,
): HTMLElement {
  const count = (n: number) => n.toLocaleString("en");
  const range = shown === 0 ? "none" : `${count(page.offset + 1)}–${count(page.offset + shown)}`;
  const size = page.limit ?? Math.max(shown, 1);
  const links: (HTMLElement | string)[] = [];
  if (page.offset > 0)
    links.push(
      " ",
      h("a", { href: href(Math.max(0, page.offset - size), page.limit), rel: "prev" }, "← Previous"),
    );
  if (page.offset + shown < page.total)
    links.push(
      " ",
      h("a", { href: href(page.offset + shown, page.limit), rel: "next" }, `Next ${count(size)} →`),
    );
  return h(
    "nav",
    { class: "pager", "aria-label": "pages" },
    `Showing ${range} of ${count(page.total)} ${noun}`,
    ...links,
  );
}
