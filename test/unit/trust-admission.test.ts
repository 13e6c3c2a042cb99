import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ImageDecider } from "../../src/admission/decider.js";
import { optionsFor, RegistryNotAllowed } from "../../src/admission/registries.js";
import {
  answerReview,
  MAX_IMAGES_PER_REVIEW,
  type WebhookOptions,
  webhookDecider,
} from "../../src/admission/webhook.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { parsePolicy } from "../../src/policy/policy.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import { silentServer } from "../helpers/loopback.js";
import { storeTrackerFixture } from "../helpers/page-fleet.js";
import { podReview as review } from "../helpers/webhook.js";

/** Admission's decision, from the index alone: which review is allowed, denied, warned or failed, and why. */

const POLICY = parsePolicy(
  `deny:
  packages: [telnet]
exemptions:
  - { package: telnet, reason: "lab only", expires: 2020-01-31 }
`,
  "policy.yaml",
);
const CLOSED: WebhookOptions = { audit: false, failurePolicy: "closed", deadlineMs: 5000 };
const OPEN: WebhookOptions = { ...CLOSED, failurePolicy: "open" };

describe("admission's decision on a review", { timeout: 120_000 }, () => {
  let index: FleetIndex;
  let clean: string;
  let telnet: string;
  let decider: ImageDecider;
  const unindexed = `registry.example/shop/gone@sha256:${"e".repeat(64)}`;
  const WHERE = { namespace: "shop", name: "web" };

  before(async () => {
    index = await FleetIndex.open(join(await tempDir("trust-admission"), "index.db"));
    const base = { name: "base-files", version: "12.4+deb12u11" };
    const images = {
      clean: (await strataImage([base])).image,
      telnet: (await strataImage([base, { name: "telnet", version: "0.17+2.4-2" }])).image,
    };
    const refs: Record<string, string> = {};
    for (const [name, image] of Object.entries(images)) {
      const topDigest = imageDescriptor(image).digest;
      await index.add(image, "test", [
        { registry: "registry.example", repository: `shop/${name}`, tag: "1", topDigest },
      ]);
      refs[name] = `registry.example/shop/${name}@${topDigest}`;
    }
    clean = refs.clean;
    telnet = refs.telnet;
    // A feed that has bookworm: the images' vulnerabilities are known (else every answer warns so).
    await storeTrackerFixture(index);
    decider = webhookDecider({ policy: POLICY, index });
  });
  after(() => index.close());

  test("a review whose every image the policy allows is allowed with no warning", async () => {
    const { answer, outcome } = await answerReview(decider, review([clean, clean], WHERE), CLOSED);
    assert.deepEqual(answer, { allowed: true, warnings: [] });
    assert.equal(outcome, "allowed");
  });

  test("one denied image denies the review, naming the object, the container, the image and why", async () => {
    const { answer, outcome } = await answerReview(decider, review([clean, telnet], WHERE), OPEN);
    const why = [
      `containers[1] ${telnet}: telnet 0.17+2.4-2 is denied ("telnet")`,
      `containers[1] ${telnet}: the exemption of telnet ("lab only") expired on 2020-01-31`,
    ];
    assert.equal(outcome, "denied");
    assert.equal(answer.allowed, false);
    assert.deepEqual(answer.warnings, why);
    assert.equal(answer.message, `strata: Pod shop/web denied: ${why.join("; ")}`);
  });

  test("an object without a namespace or a name is called by what it has", async () => {
    const bare = await answerReview(decider, review([telnet]), CLOSED);
    assert.match(bare.answer.message ?? "", /^strata: Pod \(unnamed\) denied: containers\[0\] /);
    const named = await answerReview(decider, review([telnet], { name: "web" }), CLOSED);
    assert.match(named.answer.message ?? "", /^strata: Pod web denied: /);
  });

  test("in audit mode a denial is an allowance with the reasons as warnings", async () => {
    const { answer, outcome } = await answerReview(decider, review([telnet], WHERE), {
      ...CLOSED,
      audit: true,
    });
    assert.equal(outcome, "warned");
    assert.equal(answer.allowed, true);
    assert.equal(answer.message, undefined);
    assert.equal(answer.warnings?.length, 2);
    assert.match(answer.warnings![0], /^containers\[0\] .*: telnet 0\.17\+2\.4-2 is denied \("telnet"\)$/);
  });

  test("an image that cannot be decided is allowed with a warning failing open, and denied failing closed", async () => {
    const open = await answerReview(decider, review([clean, unindexed], WHERE), OPEN);
    assert.equal(open.outcome, "failed-open");
    assert.equal(open.answer.allowed, true);
    assert.equal(open.answer.warnings?.length, 1);
    assert.match(
      open.answer.warnings![0],
      /^containers\[1\] registry\.example\/shop\/gone@sha256:e+: .*not in the index and registry registry\.example may not be fetched/,
    );
    const closed = await answerReview(decider, review([clean, unindexed], WHERE), CLOSED);
    assert.equal(closed.outcome, "failed-closed");
    assert.equal(closed.answer.allowed, false);
    assert.equal(closed.answer.message, `strata: Pod shop/web denied: ${open.answer.warnings![0]}`);
  });

  test("a denial and a failure failing closed are both said, the outcome is the denial", async () => {
    const { answer, outcome } = await answerReview(decider, review([unindexed, telnet], WHERE), CLOSED);
    assert.equal(outcome, "denied");
    assert.equal(answer.warnings?.length, 3);
    assert.match(answer.warnings![2], /^containers\[0\] .*not in the index/);
  });

  test("a denial failing open does not carry the failures", async () => {
    const { answer, outcome } = await answerReview(decider, review([unindexed, telnet], WHERE), OPEN);
    assert.equal(outcome, "denied");
    assert.equal(answer.warnings?.length, 2);
    assert.ok(answer.warnings!.every((w) => w.startsWith("containers[1] ")));
  });

  test("a name that is no image reference is refused whatever the failure policy, on its first line", async () => {
    for (const opts of [OPEN, CLOSED]) {
      const { answer, outcome } = await answerReview(decider, review(["UPPER/Case"], WHERE), opts);
      assert.equal(outcome, "denied");
      assert.equal(answer.allowed, false);
      assert.equal(answer.warnings?.length, 1);
      assert.match(answer.warnings![0], /^containers\[0\] UPPER\/Case: [^\n]*invalid image reference[^\n]*$/);
    }
  });

  test(`${MAX_IMAGES_PER_REVIEW} images are looked at, one more is refused unread, failing open too`, async () => {
    const most = await answerReview(decider, review(Array(MAX_IMAGES_PER_REVIEW).fill(clean), WHERE), CLOSED);
    assert.equal(most.outcome, "allowed");
    const more = await answerReview(
      decider,
      review(Array(MAX_IMAGES_PER_REVIEW + 1).fill(clean), WHERE),
      OPEN,
    );
    assert.equal(more.outcome, "denied");
    assert.deepEqual(more.answer.warnings, [
      `spec ${MAX_IMAGES_PER_REVIEW + 1} images: more than ${MAX_IMAGES_PER_REVIEW} images in one review; none was looked at`,
    ]);
  });

  test("a registry outside the allow-list is refused, failing open too, and never contacted", async () => {
    const silent = await silentServer();
    try {
      const scoped = new ImageDecider({ policy: POLICY, index, scope: { allow: ["registry.example"] } });
      const { answer, outcome } = await answerReview(scoped, review([`${silent.host}/x:1`], WHERE), OPEN);
      assert.equal(outcome, "denied");
      assert.deepEqual(answer.warnings, [
        `containers[0] ${silent.host}/x:1: registry ${silent.host} is not allowed (--allow-registry)`,
      ]);
      assert.equal(silent.accepted(), 0);
    } finally {
      await silent.close();
    }
  });

  test("an image not decided by the deadline is a failure saying so, and its fetch is cancelled with the answer", async () => {
    const silent = await silentServer();
    try {
      const scoped = new ImageDecider({ policy: POLICY, index, scope: { allow: [silent.host] } });
      const started = performance.now();
      const { answer, outcome } = await answerReview(scoped, review([`${silent.host}/slow:1`], WHERE), {
        ...OPEN,
        deadlineMs: 1500,
      });
      assert.ok(performance.now() - started < 5000);
      assert.equal(outcome, "failed-open");
      assert.deepEqual(answer.warnings, [
        `containers[0] ${silent.host}/slow:1: could not be decided within 1.5 s (slow registry?)`,
      ]);
      assert.equal(silent.accepted(), 1);
      for (let i = 0; i < 50 && silent.open() > 0; i++) await sleep(20);
      assert.equal(silent.open(), 0, "the connection is dropped once the review is answered");
    } finally {
      await silent.close();
    }
  });
});

describe("which registries a decision may contact, with which credentials", { timeout: 30_000 }, () => {
  const creds = { username: "u", password: "p" };

  test("a registry outside the allow-list is refused before anything is sent", () => {
    assert.throws(
      () => optionsFor("evil.example", { credentials: creds }, { allow: ["good.example"] }),
      (err) =>
        err instanceof RegistryNotAllowed &&
        err.message === "registry evil.example is not allowed (--allow-registry)",
    );
  });

  test("an allowed registry gets the options, its credentials only when they are bound to it", () => {
    const base = { credentials: creds, connectTimeoutMs: 5 };
    assert.deepEqual(
      optionsFor("good.example", base, { allow: ["good.example"], credentialsFor: "good.example" }),
      base,
    );
    assert.deepEqual(
      optionsFor("good.example", base, { allow: ["good.example"], credentialsFor: "other.example" }),
      {
        connectTimeoutMs: 5,
        credentials: undefined,
      },
    );
    assert.deepEqual(optionsFor("any.example", base, {}), { connectTimeoutMs: 5, credentials: undefined });
  });

  test("with no allow-list, no registry is contacted when fetching without one is off, any when it is on", () => {
    assert.equal(optionsFor("any.example", undefined, { fetchWithoutAllowList: false }), undefined);
    assert.deepEqual(optionsFor("any.example", undefined, { fetchWithoutAllowList: true }), {});
    assert.deepEqual(optionsFor("any.example", undefined, {}), {});
    assert.deepEqual(
      optionsFor("good.example", undefined, { allow: ["good.example"], fetchWithoutAllowList: false }),
      {},
    );
  });

  test("options without credentials are passed on as they are", () => {
    const base = { connectTimeoutMs: 5 };
    assert.equal(optionsFor("any.example", base, { credentialsFor: "other.example" }), base);
  });
});
