import { formatBytes } from "../../util/format-bytes.js";
import { getJson, type RunAnswer } from "./api.js";
import { ago, empty, h, short, table } from "./dom.js";
import { imageHref, severity } from "./parts.js";

/** What `strata run` ran: the last runs, newest first, and whether each image is vulnerable now. */

const HEADS = ["Started", "Run", "Image", "Command", "Exit", "Took", "Peak memory", "User", "Vulnerable now"];

function exitText(run: RunAnswer["run"]): string {
  return run.outcome === "exited" ? String(run.exitCode) : `${run.exitCode} (${run.outcome})`;
}

function runRow({ run, indexed, worst, vulnerabilities }: RunAnswer): HTMLElement {
  const image = indexed
    ? h("a", { href: imageHref(run.digest), title: run.digest }, short(run.digest))
    : h("span", { class: "mono", title: run.digest }, short(run.digest));
  return h(
    "tr",
    { "data-run": run.id, "data-digest": run.digest },
    h("td", { class: "muted", title: new Date(run.startedAt).toISOString() }, ago(run.startedAt)),
    h("td", { class: "mono" }, run.name || run.id),
    h("td", { class: "digest" }, image, h("div", { class: "muted" }, run.image)),
    h("td", { class: "mono" }, run.args.join(" ")),
    h("td", { class: run.exitCode === 0 ? "num" : "num bad" }, exitText(run)),
    h("td", { class: "num" }, `${((run.endedAt - run.startedAt) / 1000).toFixed(1)} s`),
    h("td", { class: "num" }, run.peakMemoryBytes === null ? "–" : formatBytes(run.peakMemoryBytes)),
    h("td", { class: "mono" }, `${run.user} · ${run.runBy}`),
    h("td", {}, vulnerabilities > 0 && worst ? h("span", {}, severity(worst), ` ${vulnerabilities}`) : "–"),
  );
}

export async function runsView(): Promise<HTMLElement> {
  return runsContent(await getJson<{ runs: RunAnswer[] }>("/api/runs"));
}

/** The Runs view from /api/runs's answer (the server renders it as the first view of /runs too). */
export function runsContent({ runs }: { runs: RunAnswer[] }): HTMLElement {
  return h(
    "section",
    {},
    h("h1", {}, "Runs"),
    h(
      "p",
      { class: "sub" },
      "What strata run ran, newest first: the image by digest, and what it is known to carry now.",
    ),
    runs.length === 0
      ? empty("No run recorded: strata run IMAGE records each run here.")
      : table(HEADS, runs.map(runRow), [4, 5, 6]),
  );
}
