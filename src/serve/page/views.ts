import { formatBytes } from "../../util/format-bytes.js";
import {
  type FleetAnswer,
  type FleetImage,
  getJson,
  type RunRecord,
  type SearchAnswer,
  type VulnerableAnswer,
} from "./api.js";
import { ago, empty, h, short, table } from "./dom.js";
import {
  FINDING_HEADS,
  findingRow,
  imageHref,
  pageParams,
  pager,
  refsCell,
  severityBadges,
  sizeText,
} from "./parts.js";

/** The fleet list, search results and the vulnerable images. */

function imageRow(image: FleetImage): HTMLElement {
  return h(
    "tr",
    { "data-digest": image.digest },
    refsCell(image),
    h(
      "td",
      { class: "digest" },
      h("a", { href: imageHref(image.digest), title: image.digest }, short(image.digest)),
    ),
    h("td", { class: "mono" }, image.platform),
    h("td", { class: "num" }, image.packages),
    h("td", { class: "num" }, sizeText(image.size)),
    h(
      "td",
      { class: "num", title: `${image.sharedLayers} of ${image.layers} layers held by other images too` },
      formatBytes(image.sharedBytes),
      h("span", { class: "muted" }, ` · ${image.sharedLayers} of ${image.layers} layers`),
    ),
    h("td", {}, severityBadges(image)),
    h("td", { class: "muted", title: new Date(image.addedAt).toISOString() }, ago(image.addedAt)),
  );
}

const IMAGE_HEADS = [
  "Repository and tags",
  "Manifest",
  "Platform",
  "Packages",
  "Size",
  "Shared with others",
  "Vulnerabilities",
  "Indexed",
];

function stat(value: string | number, label: string): HTMLElement {
  return h("div", { class: "stat" }, h("b", {}, value), h("span", {}, label));
}

/** A page of a path the server renders too: the same link works with or without the script. */
function pathHref(path: string, all = false) {
  return (offset: number, limit: number | null) => {
    const params = pageParams(offset, limit, all);
    return params === "" ? path : `${path}?${params}`;
  };
}

/** Which page of a list a view shows, and whether superseded images (no tag names them) are in it. */
export interface PageAt {
  offset: number;
  limit: number;
  all?: boolean;
}

const apiPage = ({ offset, limit, all }: PageAt) =>
  `offset=${offset}&limit=${limit}${all ? "&all=true" : ""}`;

/** The link that shows superseded images too, or hides them again (left out by default). */
function supersededToggle(path: string, all: boolean): HTMLElement {
  return h(
    "p",
    { class: "sub superseded-toggle" },
    all
      ? h("a", { href: pathHref(path)(0, null) }, "Hide superseded images")
      : h("a", { href: pathHref(path, true)(0, null) }, "Show superseded images too"),
    all ? " (listed: images no tag names any more)" : " (images no tag names any more are left out)",
  );
}

export async function fleetView(at: PageAt): Promise<HTMLElement> {
  return fleetContent(await getJson<FleetAnswer>(`/api/fleet?${apiPage(at)}`), at.all);
}

/** A page of the fleet list from /api/fleet's answer (the server renders it into the first page too). */
export function fleetContent(answer: FleetAnswer, all = false): HTMLElement {
  const { images, advisories, bytes, totals } = answer;
  return h(
    "section",
    {},
    h("h1", {}, "Images"),
    h(
      "p",
      { class: "sub" },
      advisories.length === 0
        ? "No advisories in the index: strata advisories update --from FEED to see vulnerabilities."
        : `Advisories: ${advisories.map((a) => `${a.location} (${a.date.slice(0, 10)})`).join(", ")}`,
    ),
    h(
      "div",
      { class: "summary" },
      stat(totals.images.toLocaleString("en"), "images"),
      stat(totals.repositories.toLocaleString("en"), "repositories"),
      stat(formatBytes(bytes.stored), `stored (${formatBytes(bytes.images)} as whole images)`),
      stat(formatBytes(bytes.shared), "in layers several images share"),
      stat(totals.vulnerable.toLocaleString("en"), "vulnerable (low or worse)"),
      stat(totals.fixable.toLocaleString("en"), "fixable findings"),
    ),
    answer.total === 0
      ? empty("The index holds no image yet: strata index add IMAGE")
      : [
          table(IMAGE_HEADS, images.map(imageRow), [3, 4, 5]),
          pager(answer, images.length, "images", pathHref("/", all)),
        ],
    supersededToggle("/", all),
  );
}

export async function searchView(q: string, at: PageAt): Promise<HTMLElement> {
  const answer = await getJson<SearchAnswer>(`/api/search?q=${encodeURIComponent(q)}&${apiPage(at)}`);
  const rows =
    answer.kind === "cve"
      ? answer.answers.map(
          (a) =>
            [
              a.image,
              a.findings.map((f) => `${f.package} ${f.version} → ${f.fixedVersion ?? "no fix yet"}`),
            ] as const,
        )
      : answer.answers.map(
          (a) =>
            [
              a.image,
              a.packages.map(
                (p) =>
                  `${p.name} ${p.version}${p.source !== p.name ? ` (${p.source} ${p.sourceVersion})` : ""}`,
              ),
            ] as const,
        );
  const body = rows.map(([image, matches]) =>
    h(
      "tr",
      { "data-digest": image.digest },
      refsCell(image),
      h("td", { class: "digest" }, h("a", { href: imageHref(image.digest) }, short(image.digest))),
      h("td", { class: "mono" }, image.platform),
      h("td", {}, h("div", { class: "pkgs" }, ...matches.map((m) => h("span", { class: "pkg" }, m)))),
    ),
  );
  return h(
    "section",
    {},
    h("h1", {}, "Search"),
    h(
      "p",
      { class: "sub" },
      h("code", {}, q),
      ` — ${answer.total.toLocaleString("en")} ${answer.total === 1 ? "image" : "images"}`,
    ),
    answer.total === 0
      ? empty("No indexed image matches.")
      : [
          table(["Image", "Manifest", "Platform", "Matching packages"], body),
          pager(answer, rows.length, "images", (o, l) => {
            const params = pageParams(o, l);
            return `#/search?q=${encodeURIComponent(q)}${params === "" ? "" : `&${params}`}`;
          }),
        ],
  );
}

/** The last week's `strata run`s of a vulnerable image: what ran with what it now is known to carry. */
function recentRunsLine(runs: RunRecord[]): HTMLElement | string {
  if (runs.length === 0) return "";
  const names = runs.slice(0, 5).map((r) => `${r.name || r.id} (${ago(r.startedAt)}, exit ${r.exitCode})`);
  const more = runs.length > 5 ? ` and ${runs.length - 5} more` : "";
  return h(
    "p",
    { class: "recent-runs" },
    h("a", { href: "/runs" }, `Ran ${runs.length}× in the last 7 days`),
    `: ${names.join(", ")}${more}`,
  );
}

export async function vulnerableView(at: PageAt): Promise<HTMLElement> {
  return vulnerableContent(await getJson<VulnerableAnswer>(`/api/vulnerable?${apiPage(at)}`), at.all);
}

/** A page of the vulnerable images from /api/vulnerable's answer, each with its recent runs. */
export function vulnerableContent(answer: VulnerableAnswer, all = false): HTMLElement {
  const { images } = answer;
  const sections = images.map(({ image, findings, recentRuns }) =>
    h(
      "div",
      { class: "vuln-image", "data-digest": image.digest },
      h(
        "h2",
        {},
        h(
          "a",
          { href: imageHref(image.digest) },
          image.refs.length > 0
            ? image.refs.map((r) => `${r.repository}${r.tag ? `:${r.tag}` : ""}`).join(", ")
            : short(image.digest),
        ),
        " ",
        severityBadges(image),
      ),
      recentRunsLine(recentRuns),
      table(FINDING_HEADS, findings.map(findingRow)),
    ),
  );
  return h(
    "section",
    {},
    h("h1", {}, "Vulnerable images"),
    h(
      "p",
      { class: "sub" },
      "Worst first; each finding with the version that fixes it and where that version is available.",
    ),
    answer.total === 0
      ? empty("No indexed image has a known vulnerability.")
      : [...sections, pager(answer, images.length, "vulnerable images", pathHref("/vulnerable", all))],
    supersededToggle("/vulnerable", all),
  );
}
