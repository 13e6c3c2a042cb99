import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { writeLocation } from "../../src/oci/locations/locations.js";
import { STRATA_BIN } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import { digestOf, type FleetImageSpec, indexPageFleet, OLD_ZLIB } from "../helpers/page-fleet.js";

/**
 * The page in a real browser (Debian's chromium through playwright-core) against the compiled
 * `strata serve` over a real SQLite index: the fleet, a search, an image, a diff, the vulnerable
 * list. Screenshots go to test-artifacts/serve/ (git-ignored) for people to look at.
 */

const SHOTS = new URL("../../test-artifacts/serve/", import.meta.url).pathname;
let server: ChildProcess;
let base: string;
let browser: Browser;
let page: Page;
let fleet: Map<string, FleetImageSpec>;

function startServe(args: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [STRATA_BIN, "serve", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout!.on("data", (d) => {
      out += d;
      const m = /at (http:\/\/\S+)\n/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.stderr!.on("data", (d) => {
      err += d;
    });
    child.on("exit", (code) => reject(new Error(`strata serve exited ${code}: ${err}`)));
  });
}

/** The text as the user sees it, laid out (cells apart), which textContent does not give. */
function seen(locator: Locator): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what is asserted
  return locator.innerText();
}

async function shot(name: string): Promise<void> {
  const path = join(SHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  process.stdout.write(`# screenshot ${path}\n`);
}

/** team/web:2 is also kept in an OCI layout, so its SBOM can be computed without the network. */
async function alsoInLayout(indexPath: string, layout: string, spec: FleetImageSpec): Promise<void> {
  const location = { transport: "oci" as const, path: layout, tag: "2" };
  await writeLocation(
    location,
    { kind: "image", image: spec.image.image },
    { refName: "2", archiveName: "web:2" },
  );
  const index = await FleetIndex.open(indexPath);
  const ref = { registry: "", repository: `oci:${layout}`, tag: "2", topDigest: digestOf(spec) };
  await index.add(spec.image.image, `oci:${layout}:2`, [ref]);
  await index.close();
}

/** A `strata run` of the vulnerable team/api:1.0 an hour ago, as the Runs view lists it. */
async function recordNightlyRun(indexPath: string, digest: string): Promise<void> {
  const index = await FleetIndex.open(indexPath);
  const startedAt = Date.now() - 3_600_000;
  await index.recordRun({
    id: "nightly-report-0a1b2c",
    name: "nightly-report",
    image: "docker://registry.test/team/api:1.0",
    digest,
    platform: "linux/amd64",
    args: ["/usr/bin/python3", "report.py"],
    user: "65532:65532",
    runBy: "root (0)",
    startedAt,
    endedAt: startedAt + 4200,
    exitCode: 0,
    outcome: "exited",
    peakMemoryBytes: 48 << 20,
  });
  await index.close();
}

/**
 * A trixie image: the tracker fixture has only bookworm, so nothing covers it. Its team/next:12 tag
 * first named another image, which is superseded once the tag moves to it.
 */
async function addTrixieImage(indexPath: string): Promise<{ trixie: string; retired: string }> {
  const { image } = await strataImage([{ name: "base-files", version: "13.8+deb13u1" }, OLD_ZLIB], {
    label: "trixie",
  });
  const old = (await strataImage([{ name: "base-files", version: "13.7" }], { label: "retired" })).image;
  const index = await FleetIndex.open(indexPath);
  const topDigest = imageDescriptor(image).digest;
  const retired = imageDescriptor(old).digest;
  const tag = (t: string, digest: string) => ({
    registry: "registry.test",
    repository: "team/next",
    tag: t,
    topDigest: digest,
  });
  await index.add(old, "registry.test/team/next:12", [tag("12", retired)], { moveTag: true });
  await index.add(image, "registry.test/team/next:13", [tag("13", topDigest), tag("12", topDigest)], {
    moveTag: true,
  });
  await index.close();
  return { trixie: topDigest, retired };
}

let trixie: string;
let retired: string;
before(async () => {
  const dir = await tempDir("serve-page");
  await mkdir(SHOTS, { recursive: true });
  fleet = await indexPageFleet(join(dir, "index.db"));
  await alsoInLayout(join(dir, "index.db"), join(dir, "web-layout"), fleet.get("team/web:2")!);
  await recordNightlyRun(join(dir, "index.db"), digestOf(fleet.get("team/api:1.0")!));
  ({ trixie, retired } = await addTrixieImage(join(dir, "index.db")));
  const started = await startServe(["--index", join(dir, "index.db"), "--listen", "127.0.0.1:0"]);
  server = started.child;
  base = started.url;
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox"],
  });
  page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on("pageerror", (err) => assert.fail(`page error: ${err.message}`));
});
after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

describe("strata serve in a browser", () => {
  test("the fleet lists each image with its tags and its worst vulnerabilities", async () => {
    await page.goto(base);
    await page.waitForSelector("table tbody tr");
    assert.equal(await page.locator("tbody tr").count(), 5);
    const old = page.locator(`tr[data-digest="${digestOf(fleet.get("team/api:1.0")!)}"]`);
    assert.match(await seen(old), /team\/api\s+1\.0/);
    assert.match(await seen(old.locator(".sev.critical")), /1 critical/);
    await shot("1-fleet");
  });

  test("an image of a release no advisories cover is 'unknown', grey, in the list and on its page, never 'none known'", async () => {
    await page.goto(base);
    const row = page.locator(`tr[data-digest="${trixie}"]`);
    await row.waitFor();
    const badge = row.locator(".sev.unknown");
    assert.equal(await seen(badge), "unknown");
    assert.match((await badge.getAttribute("title")) ?? "", /no advisories cover trixie/);
    assert.equal(await row.locator(".ok").count(), 0, "no green 'none known'");
    await page.goto(`${base.replace(/\/$/, "")}/image/${trixie}`);
    const section = page
      .locator("section", { has: page.locator("h2", { hasText: "Vulnerabilities" }) })
      .last();
    await section.waitFor();
    assert.match(await seen(section), /Vulnerabilities \(unknown\)[\s\S]*no advisories cover trixie/);
    assert.doesNotMatch(await seen(section), /No known vulnerability/);
    await shot("1b-unknown");
  });

  test("the first view is in the HTML itself: a plain GET finds the fleet list, an image and the vulnerable list", async () => {
    const get = async (path: string) => {
      const res = await fetch(`${base.replace(/\/$/, "")}${path}`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
      return res.text();
    };
    const fleetHtml = await get("/");
    assert.doesNotMatch(fleetHtml, /Loading/);
    assert.match(fleetHtml, /<main id="main" data-rendered="fleet"><section><h1>Images<\/h1>/);
    for (const spec of fleet.values())
      assert.match(fleetHtml, new RegExp(`<tr data-digest="${digestOf(spec)}">`));
    assert.match(
      fleetHtml,
      /<a href="\/image\/sha256:[0-9a-f]{64}">[^<]*team\/api<\/a> <span class="tag">1\.0<\/span>/,
    );
    const old = digestOf(fleet.get("team/api:1.0")!);
    const imageHtml = await get(`/image/${old}`);
    assert.match(imageHtml, /<h2>Layers \(6\) and packages \(5\)<\/h2>/);
    assert.match(imageHtml, /CVE-2023-45853/);
    assert.match(await get("/vulnerable"), new RegExp(`<div class="vuln-image" data-digest="${old}">`));
    const missing = await fetch(`${base.replace(/\/$/, "")}/image/sha256:${"0".repeat(64)}`);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /<h1>Not in the index<\/h1>/);
  });

  test("with scripts off, Chromium shows the fleet list, and its links lead to an image's page", async () => {
    const context = await browser.newContext({
      javaScriptEnabled: false,
      viewport: { width: 1440, height: 900 },
    });
    try {
      const still = await context.newPage();
      await still.goto(base);
      assert.equal(await still.locator("tbody tr").count(), 5);
      assert.match(await seen(still.locator("main h1")), /Images/);
      const old = digestOf(fleet.get("team/api:1.0")!);
      await still.locator(`tr[data-digest="${old}"] td.digest a`).click();
      await still.waitForURL(`**/image/${old}`);
      assert.match(await seen(still.locator("main")), /Layers \(6\) and packages \(5\)/);
      await still.screenshot({ path: join(SHOTS, "0-no-script-image.png"), fullPage: true });
    } finally {
      await context.close();
    }
  });

  test("a search by version relation finds the old tag, and a CVE search names the fixing version", async () => {
    await page.fill("#q", "libcurl4 << 7.88.1-10+deb12u6");
    await page.press("#q", "Enter");
    await page.waitForSelector("h1:text('Search')");
    const rows = page.locator("tbody tr");
    assert.equal(await rows.count(), 1);
    assert.match(await seen(rows.first()), /libcurl4 7\.88\.1-10\+deb12u5 \(curl/);
    await shot("2-search-relation");
    await page.fill("#q", "CVE-2023-45853");
    await page.press("#q", "Enter");
    await page.waitForFunction(() => document.querySelector("main code")?.textContent === "CVE-2023-45853");
    assert.match(
      await seen(page.locator("tbody")),
      /zlib1g 1:1\.2\.13\.dfsg-1 → 1:1\.2\.13\.dfsg-1\+deb12u1/,
    );
    await shot("3-search-cve");
  });

  test("an image shows its vulnerabilities with fixes and its layers with their packages", async () => {
    await page.locator("tbody tr a").first().click();
    await page.waitForSelector("h2:text('Layers')");
    const text = await seen(page.locator("main"));
    assert.match(text, /CVE-2023-45853\s+zlib1g\s+1:1\.2\.13\.dfsg-1\s+1:1\.2\.13\.dfsg-1\+deb12u1/);
    assert.match(text, /Layers \(6\) and packages \(5\)/);
    assert.equal(await page.locator(".pkg.vulnerable").count(), 3, "libcurl4, libssl3 and zlib1g are marked");
    await shot("4-image");
  });

  test("the image's SBOM link downloads an SPDX document of its packages", async () => {
    await page.goto(`${base}#/image/${digestOf(fleet.get("team/web:2")!)}`);
    await page.waitForSelector("#sbom-spdx");
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#sbom-spdx")]);
    assert.match(download.suggestedFilename(), /\.spdx\.json$/);
    const doc = JSON.parse(await readFile((await download.path())!, "utf8"));
    assert.equal(doc.spdxVersion, "SPDX-2.3");
    assert.ok(doc.packages.some((p: { name: string }) => p.name === "tzdata"));
    await shot("4b-image-sizes-sbom");
  });

  test("the diff against the newer tag lists the changed packages", async () => {
    const newer = digestOf(fleet.get("team/api:1.1")!);
    await page.goto(`${base}#/image/${newer}`);
    await page.waitForSelector("#against");
    await page.selectOption("#against", digestOf(fleet.get("team/api:1.0")!));
    await page.click("#diff-button");
    await page.waitForSelector("#diff table");
    const diff = await seen(page.locator("#diff"));
    assert.match(diff, /3 changed, 0 added, 0 removed, 2 the same/);
    assert.match(diff, /changed\s+libssl3\s+3\.0\.11-1~deb12u2\s+3\.0\.17-1~deb12u3/);
    await page.locator("#diff").scrollIntoViewIfNeeded();
    await shot("5-diff");
  });

  test("the vulnerable list puts the critical image first; a bad search shows the error line", async () => {
    await page.click("a[data-nav='vulnerable']");
    await page.waitForSelector(".vuln-image");
    assert.equal(
      await page.locator(".vuln-image").first().getAttribute("data-digest"),
      digestOf(fleet.get("team/api:1.0")!),
    );
    assert.match(
      await seen(page.locator(".vuln-image").first().locator(".recent-runs")),
      /Ran 1× in the last 7 days: nightly-report \((60 min|1 h) ago, exit 0\)/,
    );
    await shot("6-vulnerable");
    await page.fill("#q", "openssl << not-a-version");
    await page.press("#q", "Enter");
    await page.waitForSelector(".error");
    assert.match(await seen(page.locator(".error")), /is not a Debian version/);
  });

  test("the Runs view lists what strata run ran, with its image vulnerable now", async () => {
    await page.click("a[data-nav='runs']");
    await page.waitForSelector("tr[data-run]");
    const row = page.locator('tr[data-run="nightly-report-0a1b2c"]');
    assert.match(
      await seen(row),
      /nightly-report[\s\S]*\/usr\/bin\/python3 report\.py[\s\S]*4\.2 s[\s\S]*48\.0 MiB[\s\S]*critical/,
    );
    await shot("7-runs");
    await row.locator("a").first().click();
    await page.waitForSelector(".stack, table");
    assert.match(page.url(), new RegExp(`/image/${digestOf(fleet.get("team/api:1.0")!)}$`));
  });

  test("a long list comes a page at a time with its totals; the pager's links move through it, with scripts and without", async () => {
    await page.goto(`${base}?limit=2`);
    await page.waitForSelector("nav.pager");
    assert.equal(await page.locator("tbody tr").count(), 2);
    assert.match(await seen(page.locator("nav.pager")), /^Showing 1–2 of 5 images Next 2 →$/);
    assert.match(
      await seen(page.locator(".summary")),
      /^5\s*images/,
      "the totals are the fleet's, not the page's",
    );
    await page.click("nav.pager a[rel=next]");
    await page.waitForURL("**/?offset=2&limit=2");
    assert.match(await seen(page.locator("nav.pager")), /^Showing 3–4 of 5 images ← Previous Next 2 →$/);
    await shot("8-pager");
    await page.click("nav.pager a[rel=next]");
    await page.waitForURL("**/?offset=4&limit=2");
    assert.equal(await page.locator("tbody tr").count(), 1);
    assert.equal(await page.locator("nav.pager a[rel=next]").count(), 0, "no page after the last");
    const context = await browser.newContext({ javaScriptEnabled: false });
    try {
      const still = await context.newPage();
      await still.goto(`${base}vulnerable?limit=1`);
      const vulnerable = await seen(still.locator("nav.pager"));
      const total = Number(/of (\d+) vulnerable images/.exec(vulnerable)?.[1]);
      assert.ok(total >= 2, vulnerable);
      await still.click("nav.pager a[rel=next]");
      await still.waitForURL("**/vulnerable?offset=1&limit=1");
      assert.match(
        await seen(still.locator("nav.pager")),
        new RegExp(`^Showing 2–2 of ${total} vulnerable images`),
      );
    } finally {
      await context.close();
    }
    await page.goto(`${base}#/search?q=source:zlib&limit=2`);
    await page.waitForSelector("nav.pager");
    const first = await page.locator("tbody tr").first().getAttribute("data-digest");
    assert.match(await seen(page.locator("nav.pager")), /^Showing 1–2 of \d+ images/);
    await page.click("nav.pager a[rel=next]");
    await page.waitForFunction(() =>
      document.querySelector("nav.pager")?.textContent?.startsWith("Showing 3–"),
    );
    assert.notEqual(await page.locator("tbody tr").first().getAttribute("data-digest"), first);
  });

  test("superseded images are left out of the lists until asked for, with scripts and without", async () => {
    await page.goto(base);
    await page.waitForSelector("table tbody tr");
    const rows = await page.locator("tbody tr").count();
    assert.equal(await page.locator(`tr[data-digest="${retired}"]`).count(), 0);
    await page.click("text=Show superseded images too");
    await page.waitForURL("**/?all=true");
    await page.waitForSelector(`tr[data-digest="${retired}"]`);
    assert.equal(await page.locator("tbody tr").count(), rows + 1);
    assert.match(await seen(page.locator(`tr[data-digest="${retired}"]`)), /superseded \(no tag names it\)/);
    await shot("9-superseded");
    await page.click("text=Hide superseded images");
    await page.waitForURL((url) => url.search === "");
    assert.equal(await page.locator(`tr[data-digest="${retired}"]`).count(), 0);
    const context = await browser.newContext({ javaScriptEnabled: false });
    try {
      const still = await context.newPage();
      await still.goto(`${base}?all=true`);
      assert.equal(await still.locator(`tr[data-digest="${retired}"]`).count(), 1);
      assert.equal(await still.locator("tbody tr").count(), rows + 1);
    } finally {
      await context.close();
    }
  });

  test("/runs arrives with the Runs view in its HTML, no script run", async () => {
    const html = await (
      await fetch(`${base.replace(/\/$/, "")}/runs`, { signal: AbortSignal.timeout(10_000) })
    ).text();
    assert.match(html, /<main id="main" data-rendered="runs">[\s\S]*nightly-report-0a1b2c/);
  });
});
