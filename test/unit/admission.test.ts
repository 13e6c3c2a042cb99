import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ImageDecider } from "../../src/admission/decider.js";
import type { WebhookOptions } from "../../src/admission/webhook.js";
import { readFeed } from "../../src/advisories/feed.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { parsePolicy } from "../../src/policy/policy.js";
import { vexClaims } from "../../src/vex/read.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import { postReview as post, reviewOf as review, serveTestWebhook } from "../helpers/webhook.js";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;

const POLICY = `deny:
  fixable: { severity: medium }
  unfixed: { severity: critical }
exemptions:
  - { cve: CVE-2023-45853, reason: "minizip is not shipped", expires: 2027-01-31 }
`;

describe("admission webhook", () => {
  let dir: string;
  let index: FleetIndex;
  let ca: string;
  let vulnerable: string;
  let clean: string;
  const servers: { close(): void }[] = [];

  async function start(opts: Partial<WebhookOptions> = {}) {
    const decider = new ImageDecider({ policy: parsePolicy(POLICY, "policy.yaml"), index });
    const served = await serveTestWebhook(decider, dir, `webhook-${servers.length}`, {
      now: () => new Date("2027-01-15T12:00:00Z"),
      ...opts,
    });
    ca = served.ca;
    servers.push(served.server);
    return served.url;
  }

  before(async () => {
    dir = await tempDir("admission");
    index = await FleetIndex.open(join(dir, "index.db"));
    const base = { name: "base-files", version: "12.4+deb12u11" };
    const old = await strataImage([
      base,
      { name: "libssl3", version: "3.0.15-1~deb12u1", source: "openssl" },
      { name: "zlib1g", version: "1:1.2.13.dfsg-1", source: "zlib" },
    ]);
    const fixed = await strataImage([
      base,
      { name: "libssl3", version: "3.0.17-1~deb12u3", source: "openssl" },
    ]);
    for (const [image, tag] of [
      [old.image, "1"],
      [fixed.image, "2"],
    ] as const) {
      const topDigest = imageDescriptor(image).digest;
      await index.add(image, "test", [
        { registry: "registry.example", repository: "shop/web", tag, topDigest },
      ]);
    }
    vulnerable = `registry.example/shop/web@${imageDescriptor(old.image).digest}`;
    clean = `registry.example/shop/web@${imageDescriptor(fixed.image).digest}`;
    const feed = await readFeed(join(FIXTURES, "advisories", "tracker.json"));
    await index.advisories.store(
      { location: "tracker.json", kind: "tracker", date: feed.date },
      feed.advisories,
    );
  });

  after(async () => {
    for (const s of servers) s.close();
    await index.close();
  });

  it("denies a pod with a vulnerable image, with its reasons, and echoes the uid", async () => {
    const url = await start();
    const r = await post(url, ca, await review("pod-review.json", vulnerable));
    assert.equal(r.status, 200);
    assert.equal(r.body.apiVersion, "admission.k8s.io/v1");
    assert.equal(r.body.kind, "AdmissionReview");
    const response = r.body.response!;
    assert.equal(response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert.equal(response.allowed, false);
    assert.equal(response.status?.code, 403);
    assert.match(response.status!.message, /^strata: Pod shop\/web denied: /);
    assert.match(
      response.status!.message,
      /initContainers\[0\] .*CVE-2025-9230 \(high\) in libssl3 3\.0\.15-1~deb12u1: fixed in 3\.0\.17-1~deb12u3/,
    );
    assert.match(response.status!.message, /containers\[0\] /);
    assert.doesNotMatch(response.status!.message, /CVE-2023-45853/, "exempted until 2027-01-31");
  });

  it("allows a pod whose image has no finding the policy denies", async () => {
    const url = await start();
    const r = await post(url, ca, await review("pod-review.json", clean));
    assert.equal(r.body.response?.allowed, true);
    assert.equal(r.body.response?.status, undefined);
  });

  it("names a pod created without request.name by its metadata.name, else its generateName", async () => {
    const url = await start();
    const created = JSON.parse(await review("pod-review.json", vulnerable));
    delete created.request.name;
    const byMetadata = await post(url, ca, JSON.stringify(created));
    assert.match(byMetadata.body.response!.status!.message, /^strata: Pod shop\/web denied: /);
    delete created.request.object.metadata.name;
    created.request.object.metadata.generateName = "web-7d4b9-";
    const generated = await post(url, ca, JSON.stringify(created));
    assert.match(generated.body.response!.status!.message, /^strata: Pod shop\/web-7d4b9-\* denied: /);
    created.request.object.metadata.generateName = "Not A Name\n";
    const unnamed = await post(url, ca, JSON.stringify(created));
    assert.match(unnamed.body.response!.status!.message, /^strata: Pod shop\/\(unnamed\) denied: /);
  });

  it("checks a Deployment's pod template", async () => {
    const url = await start();
    const denied = await post(url, ca, await review("deployment-review.json", vulnerable));
    assert.equal(denied.body.response?.uid, "c1b7a8e2-0f36-4f53-9d0e-8d4a3d6b1e22");
    assert.equal(denied.body.response?.allowed, false);
    assert.match(
      denied.body.response!.status!.message,
      /^strata: Deployment shop\/api denied: containers\[0\]/,
    );
    const allowed = await post(url, ca, await review("deployment-review.json", clean));
    assert.equal(allowed.body.response?.allowed, true);
  });

  it("allows an exempted CVE until its expiry passes, then denies and says it expired", async () => {
    const policy = `deny:\n  fixable: { severity: medium }\nexemptions:\n  - { cve: CVE-2025-9230, reason: "no CMS use", expires: 2027-01-31 }\n  - { cve: CVE-2023-45853, reason: "minizip is not shipped", expires: 2027-01-31 }\n`;
    for (const { now, allowed } of [
      { now: "2027-01-31T23:59:00Z", allowed: true },
      { now: "2027-02-01T00:00:00Z", allowed: false },
    ]) {
      const decider = new ImageDecider({ policy: parsePolicy(policy, "p.yaml"), index });
      const served = await serveTestWebhook(decider, dir, `exempt-${allowed}`, { now: () => new Date(now) });
      servers.push(served.server);
      const r = await post(served.url, served.ca, await review("pod-review.json", vulnerable));
      assert.equal(r.body.response?.allowed, allowed, now);
      if (!allowed) {
        assert.match(
          r.body.response!.status!.message,
          /the exemption of CVE-2025-9230 \("no CMS use"\) expired on 2027-01-31/,
        );
      }
    }
  });

  it("one decider reuses a decision until an exemption it rests on expires, and decides anew for an earlier time", async () => {
    const policy = `deny:\n  fixable: { severity: medium }\nexemptions:\n  - { cve: CVE-2025-9230, reason: "no CMS use", expires: 2027-01-31 }\n  - { cve: CVE-2023-45853, reason: "minizip is not shipped", expires: 2027-01-31 }\n`;
    const decider = new ImageDecider({ policy: parsePolicy(policy, "p.yaml"), index });
    const allowedAt = async (now: string) => (await decider.decide(vulnerable, new Date(now)))[0].allowed;
    assert.equal(await allowedAt("2027-01-30T10:00:00Z"), true);
    assert.equal(await allowedAt("2027-01-31T23:59:59Z"), true);
    const reused = decider.counts().decisions.hits;
    assert.equal(reused, 1, "the second time within the exemption's life was a reuse");
    assert.equal(await allowedAt("2027-02-01T00:00:00Z"), false);
    assert.equal(
      await allowedAt("2027-01-30T10:00:00Z"),
      true,
      "an earlier time is decided anew, not served the later decision",
    );
  });

  it("with VEX files given at start, a CVE a statement covers no longer denies, and the answer names it with its source", async () => {
    const policy = parsePolicy(POLICY, "policy.yaml");
    const [before] = await new ImageDecider({ policy, index }).decide(vulnerable);
    const ids = [...new Set(before.violations.map((v) => v.id!))];
    assert.ok(ids.length > 0);
    const digest = vulnerable.split("@")[1];
    const statements = ids.map((id) => ({
      vulnerability: { name: id },
      products: [{ "@id": `pkg:oci/web@${encodeURIComponent(digest)}` }],
      status: "not_affected",
      justification: "vulnerable_code_not_in_execute_path",
    }));
    const document = { "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://team.example/vex/1" };
    const bytes = Buffer.from(
      JSON.stringify({
        ...document,
        author: "team",
        timestamp: "2027-01-01T00:00:00Z",
        version: 1,
        statements,
      }),
    );
    const vex = vexClaims(bytes, "team.vex.json");
    const decider = new ImageDecider({ policy, index, vex });
    const served = await serveTestWebhook(decider, dir, "webhook-vex", {
      now: () => new Date("2027-01-15T12:00:00Z"),
    });
    servers.push(served.server);
    const r = await post(served.url, served.ca, await review("pod-review.json", vulnerable));
    const response = r.body.response!;
    assert.equal(response.allowed, true, response.status?.message);
    assert.ok(
      response.warnings?.some((w) =>
        new RegExp(
          `${ids[0]} in \\S+ suppressed by VEX \\(source: team\\.vex\\.json, not_affected: vulnerable_code_not_in_execute_path\\)`,
        ).test(w),
      ),
      JSON.stringify(response.warnings),
    );
  });

  it("in audit mode allows, with the reasons as warnings", async () => {
    const url = await start({ audit: true });
    const r = await post(url, ca, await review("pod-review.json", vulnerable));
    assert.equal(r.body.response?.allowed, true);
    assert.ok(r.body.response!.warnings!.some((w) => /CVE-2025-9230/.test(w)));
    assert.ok(r.body.response!.warnings!.every((w) => w.length <= 256));
  });

  it("answers a malformed review with HTTP 400 and a message, and keeps serving", async () => {
    const url = await start();
    for (const [body, why] of [
      ["{not json", /not JSON/],
      ['{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{}}', /apiVersion/],
      [
        '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"kind":"Pod"}}}',
        /request\.uid/,
      ],
      [
        '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"object":{"spec":{"containers":[{"name":"x"}]}}}}',
        /containers\[0\] has no image/,
      ],
    ] as const) {
      const r = await post(url, ca, body);
      assert.equal(r.status, 400, body);
      assert.match(r.body.error ?? "", why);
    }
    assert.equal((await post(url, ca, "", "/healthz")).status, 200);
  });

  it("denies an image name that is no reference with HTTP 200 and the reason, even failing open", async () => {
    // A 400 is a webhook failure, which the API server resolves by its failurePolicy: Ignore would admit it.
    const body =
      '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"object":{"spec":{"containers":[{"image":"UPPER/Case"}]}}}}';
    for (const failurePolicy of ["open", "closed"] as const) {
      const r = await post(await start({ failurePolicy }), ca, body);
      assert.equal(r.status, 200, failurePolicy);
      assert.equal(r.body.response?.uid, "u");
      assert.equal(r.body.response?.allowed, false, failurePolicy);
      assert.match(
        r.body.response!.status!.message,
        /containers\[0\] UPPER\/Case: .*invalid image reference/,
      );
    }
  });

  it("a kind it does not review, __proto__, constructor and toString included, is a 400 that names the kinds it reviews", async () => {
    const url = await start();
    for (const kind of ["__proto__", "constructor", "toString", "hasOwnProperty", "ConfigMap"]) {
      const body = JSON.stringify({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: { uid: "u", kind: { kind }, object: { spec: { containers: [{ image: "a:1" }] } } },
      });
      const r = await post(url, ca, body);
      assert.equal(r.status, 400, kind);
      assert.match(
        r.body.error ?? "",
        new RegExp(`kind "${kind}" is not one strata reviews \\(Pod, Deployment`),
      );
    }
    assert.equal((await post(url, ca, "", "/healthz")).status, 200);
  });

  it("answers within its deadline when the registry cannot be reached, by the failure policy", async () => {
    const unreachable = "127.0.0.1:9/shop/web:1";
    for (const failurePolicy of ["closed", "open"] as const) {
      const url = await start({ failurePolicy, deadlineMs: 800 });
      const started = performance.now();
      const r = await post(url, ca, await review("pod-review.json", unreachable));
      assert.ok(performance.now() - started < 3000, "answered before the webhook's timeout");
      assert.equal(r.body.response?.allowed, failurePolicy === "open");
      const text =
        failurePolicy === "open" ? r.body.response!.warnings!.join(" ") : r.body.response!.status!.message;
      assert.match(text, /127\.0\.0\.1:9\/shop\/web:1/);
    }
  });

  it("exposes decisions and latency as Prometheus metrics", async () => {
    const url = await start();
    await post(url, ca, await review("pod-review.json", vulnerable));
    await post(url, ca, await review("pod-review.json", clean));
    const r = await post(url, ca, "", "/metrics");
    const text = r.body.error ?? "";
    assert.match(text, /^strata_admission_decisions_total\{outcome="denied"\} 1$/m);
    assert.match(text, /^strata_admission_decisions_total\{outcome="allowed"\} 1$/m);
    assert.match(text, /^strata_admission_review_seconds_count 2$/m);
    assert.match(text, /# TYPE strata_admission_review_seconds histogram/);
  });
});
