import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { renderMarkup } from "../../src/serve/markup.js";
import { h } from "../../src/serve/page/dom.js";
import { fleetContent } from "../../src/serve/page/views.js";

/** The server's first view: the page's own views written as HTML, with nothing from the index becoming markup. */

describe("first views rendered on the server", { timeout: 10_000 }, () => {
  test("text and attribute values are escaped; names that are not the page's own are refused", () => {
    assert.equal(
      renderMarkup(() => h("td", { title: 'a"b<' }, "<script>alert(1)</script> & more", 3)),
      '<td title="a&quot;b&lt;">&lt;script&gt;alert(1)&lt;/script&gt; &amp; more3</td>',
    );
    assert.throws(() => renderMarkup(() => h("td onclick=x", {})), /not a tag name/);
    assert.throws(() => renderMarkup(() => h("td", { "onclick=x": "" })), /not an attribute name/);
  });

  test("the fleet list of a hostile ref is the same table, its text inert", () => {
    const html = renderMarkup(() =>
      fleetContent({
        images: [
          {
            digest: `sha256:${"a".repeat(64)}`,
            config: `sha256:${"b".repeat(64)}`,
            platform: "linux/amd64",
            refs: [{ registry: "reg", repository: "<img src=x onerror=alert(1)>", tag: "1" }],
            addedAt: 0,
            size: 1024,
            layers: 2,
            sharedLayers: 0,
            sharedBytes: 0,
            packages: 3,
            vulnerabilities: { critical: 0, high: 0, medium: 0, low: 0, negligible: 0, unknown: 0 },
            fixable: 0,
            superseded: false,
          },
        ],
        total: 1,
        offset: 0,
        limit: 100,
        totals: { images: 1, repositories: 1, vulnerable: 0, fixable: 0 },
        bytes: { images: 1024, stored: 1024, shared: 0 },
        advisories: [],
      }),
    );
    assert.match(html, /^<section><h1>Images<\/h1>/);
    assert.match(html, /<tr data-digest="sha256:a{64}">/);
    assert.match(html, /reg\/&lt;img src=x onerror=alert\(1\)&gt;<\/a> <span class="tag">1<\/span>/);
    assert.doesNotMatch(html, /<img/);
  });
});
