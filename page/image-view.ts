import {
  type DiffAnswer,
  type Finding,
  type FleetAnswer,
  getJson,
  type ImageAnswer,
  type IndexedPackage,
  type StackLayer,
} from "./api.js";
import { ago, empty, h, short, table } from "./dom.js";
import { FINDING_HEADS, findingRow, refName, sizeText } from "./parts.js";

/** One image: its names, vulnerabilities, layer stack with packages, and a diff against another image. */

function pkgChip(p: IndexedPackage, vulnerable: Set<string>): HTMLElement {
  const bad = vulnerable.has(p.name);
  return h(
    "span",
    { class: bad ? "pkg vulnerable" : "pkg", title: `source ${p.source} ${p.sourceVersion}` },
    `${p.name} ${p.version}`,
  );
}

function layerRow(layer: StackLayer, vulnerable: Set<string>): HTMLElement {
  return h(
    "tr",
    { class: "layer" },
    h("td", { class: "num fit" }, layer.position + 1),
    h(
      "td",
      { class: "digest fit", title: `digest ${layer.digest}\ndiff_id ${layer.diffId}` },
      short(layer.digest),
    ),
    h("td", { class: "num fit" }, sizeText(layer.size)),
    h(
      "td",
      { class: "num fit" },
      layer.images > 1
        ? h("span", { class: "pill" }, `${layer.images} images`)
        : h("span", { class: "muted" }, "this one"),
    ),
    h(
      "td",
      {},
      layer.packages.length === 0
        ? h("span", { class: "muted" }, "no packages")
        : h("div", { class: "pkgs" }, ...layer.packages.map((p) => pkgChip(p, vulnerable))),
    ),
  );
}

function diffSection(digest: string, others: FleetAnswer["images"]): HTMLElement {
  const select = h(
    "select",
    { id: "against", "aria-label": "Compare with" },
    ...others.map((o) =>
      h(
        "option",
        { value: o.digest },
        `${o.refs.map(refName).join(", ") || short(o.digest)} (${o.platform})`,
      ),
    ),
  ) as HTMLSelectElement;
  const out = h("div", { id: "diff" });
  // app.ts handles its click (one listener for the page), so a first view the server made works too.
  const button = h("button", { type: "button", id: "diff-button", "data-digest": digest }, "Compare");
  return h(
    "section",
    {},
    h("h2", {}, "Package diff"),
    others.length === 0
      ? empty("No other image to compare with.")
      : h("div", { class: "toolbar" }, h("span", {}, "From"), select, h("span", {}, "to this image"), button),
    out,
  );
}

function diffTable(d: DiffAnswer): HTMLElement {
  const { added, removed, changed, same } = d.packages;
  const rows = [
    ...changed.map((c) =>
      h(
        "tr",
        {},
        h("td", { class: "changed" }, "changed"),
        h("td", { class: "mono" }, c.name),
        h("td", { class: "mono" }, c.a.version),
        h("td", { class: "mono" }, c.b.version),
      ),
    ),
    ...added.map((p) =>
      h(
        "tr",
        {},
        h("td", { class: "added" }, "added"),
        h("td", { class: "mono" }, p.name),
        h("td", {}, ""),
        h("td", { class: "mono" }, p.version),
      ),
    ),
    ...removed.map((p) =>
      h(
        "tr",
        {},
        h("td", { class: "removed" }, "removed"),
        h("td", { class: "mono" }, p.name),
        h("td", { class: "mono" }, p.version),
        h("td", {}, ""),
      ),
    ),
  ];
  const names = (i: DiffAnswer["a"]) => i.refs.map(refName).join(", ") || short(i.digest);
  return h(
    "div",
    {},
    h(
      "p",
      { class: "sub" },
      `${names(d.a)} → ${names(d.b)}: ${changed.length} changed, ${added.length} added, ${removed.length} removed, ${same} the same; layers ${d.layers.shared} shared, ${d.layers.onlyInB} new`,
    ),
    rows.length === 0 ? empty("The same packages.") : table(["Change", "Package", "From", "To"], rows),
  );
}

/** Downloads of the image's SBOM: the attached one where it lives, else computed from it by the server. */
function sbomLinks(image: ImageAnswer["image"]): HTMLElement {
  const link = (format: string, label: string) =>
    h(
      "a",
      {
        class: "button",
        href: `/api/images/${image.digest}/sbom?format=${format}`,
        download: "",
        id: `sbom-${format}`,
      },
      label,
    );
  return h(
    "div",
    { class: "toolbar sbom" },
    h("span", { class: "muted" }, "Download SBOM"),
    link("spdx", "SPDX 2.3 JSON"),
    link("cyclonedx", "CycloneDX 1.6 JSON"),
  );
}

function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function findingsSection(answer: ImageAnswer): HTMLElement {
  const body =
    answer.findings.length > 0
      ? table(FINDING_HEADS, answer.findings.map(findingRow))
      : answer.unknown
        ? empty(`${sentence(answer.unknown)} (strata advisories update --from FEED stores a feed).`)
        : empty("No known vulnerability.");
  const unknown =
    answer.unknown && answer.findings.length > 0
      ? [h("p", { class: "unknown-note" }, `Incomplete: ${answer.unknown}.`)]
      : [];
  const count = answer.unknown && answer.findings.length === 0 ? "unknown" : String(answer.findings.length);
  return h("section", {}, h("h2", {}, `Vulnerabilities (${count})`), ...unknown, body);
}

/** The other images, those of the same repositories first (the likeliest comparison: another tag). */
function diffCandidates(image: ImageAnswer["image"], images: FleetAnswer["images"]): FleetAnswer["images"] {
  const repos = new Set(image.refs.map((r) => `${r.registry}/${r.repository}`));
  const near = (i: FleetAnswer["images"][number]) =>
    i.refs.some((r) => repos.has(`${r.registry}/${r.repository}`));
  const others = images.filter((i) => i.digest !== image.digest);
  return [...others.filter(near), ...others.filter((i) => !near(i))];
}

export async function imageView(digest: string, against?: string): Promise<HTMLElement> {
  const [answer, fleet] = await Promise.all([
    getJson<ImageAnswer>(`/api/images/${encodeURIComponent(digest)}`),
    getJson<FleetAnswer>("/api/fleet"),
  ]);
  const view = imageContent(answer, fleet);
  if (against !== undefined) {
    const select = view.querySelector<HTMLSelectElement>("#against");
    if (select) select.value = against;
    const diff = await getJson<DiffAnswer>(
      `/api/images/${encodeURIComponent(answer.image.digest)}/diff?against=${encodeURIComponent(against)}`,
    );
    view.querySelector("#diff")?.append(diffTable(diff));
  }
  return view;
}

/** One image from /api/images/DIGEST's and /api/fleet's answers (the server renders it too). */
export function imageContent(answer: ImageAnswer, fleet: FleetAnswer): HTMLElement {
  const { image, layers } = answer;
  const vulnerable = new Set(answer.findings.map((f: Finding) => f.package));
  const packages = layers.reduce((n, l) => n + l.packages.length, 0);
  return h(
    "section",
    {},
    h("h1", {}, image.refs.map(refName).join(", ") || short(image.digest)),
    h(
      "p",
      { class: "sub mono" },
      `${image.digest} · config ${short(image.config)} · ${image.platform} · ${sizeText(image.size)} · indexed ${ago(image.addedAt)}`,
    ),
    sbomLinks(image),
    findingsSection(answer),
    h("h2", {}, `Layers (${layers.length}) and packages (${packages})`),
    table(
      ["#", "Layer", "Size", "Held by", "Packages"],
      layers.map((l) => layerRow(l, vulnerable)),
      [0, 2, 3],
      [0, 1, 2, 3],
    ),
    diffSection(image.digest, diffCandidates(image, fleet.images)),
  );
}
