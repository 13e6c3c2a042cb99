import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { answerReview, webhookDecider } from "../../src/admission/webhook.js";
import type { Db } from "../../src/database/db.js";
import type { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { parsePolicy } from "../../src/policy/policy.js";
import { sha256Hex } from "../../src/util/hash.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import { openIndexWithDb } from "../helpers/index-backends.js";
import { serve } from "../helpers/loopback.js";
import { syntheticIndex } from "../helpers/synthetic-image.js";
import { podReview } from "../helpers/webhook.js";

/** The webhook decides from what the fleet index holds, for every platform an image name stands for. */

const POLICY = parsePolicy("deny:\n  packages: [telnet]\n", "policy.yaml");
const OPTS = { audit: false, failurePolicy: "open" as const, deadlineMs: 5000 };

const review = (image: string) => podReview([image], { namespace: "shop", name: "web" });

describe("the webhook's view of the fleet index", { timeout: 120_000 }, () => {
  let index: FleetIndex;
  let db: Db;
  const base = { name: "base-files", version: "12.4+deb12u11" };

  before(async () => {
    ({ index, db } = await openIndexWithDb(join(await tempDir("trust-admission-index"), "index.db")));
  });
  after(() => index.close());

  test("an image index one of whose platforms the policy denies is denied", async () => {
    const clean = (await strataImage([base], { label: "amd64" })).image;
    const telnet = (await strataImage([base, { name: "telnet", version: "0.17+2.4-2" }], { label: "arm64" }))
      .image;
    const artifact = syntheticIndex([clean, telnet]);
    if (artifact.kind !== "index") throw new Error("not an index");
    const topDigest = `sha256:${sha256Hex(artifact.index.indexBytes)}`;
    for (const image of [clean, telnet])
      await index.add(image, "test", [
        { registry: "registry.example", repository: "shop/multi", tag: "1", topDigest },
      ]);
    const decider = webhookDecider({ policy: POLICY, index });
    const { answer, outcome } = await answerReview(
      decider,
      review(`registry.example/shop/multi@${topDigest}`),
      OPTS,
    );
    assert.equal(outcome, "denied");
    assert.equal(answer.warnings?.length, 1);
    assert.match(answer.warnings![0], /telnet 0\.17\+2\.4-2 is denied/);
  });

  test("an image it may fetch but the index lacks is not indexed by a review", async () => {
    const { image } = await strataImage([base], { label: "unindexed" });
    const digest = imageDescriptor(image).digest;
    const blobs = new Map([
      [`/v2/shop/new/manifests/${digest}`, image.manifestBytes],
      [`/v2/shop/new/blobs/${image.manifest.config.digest}`, image.configBytes],
    ]);
    const registry = await serve((req, res) => {
      const body = req.url === "/v2/" ? Buffer.from("{}") : blobs.get(req.url ?? "");
      if (!body) return res.writeHead(404).end();
      res.writeHead(200, { "content-type": image.manifest.mediaType ?? "" }).end(body);
    });
    try {
      const host = registry.url.replace("http://", "");
      const decider = webhookDecider({ policy: POLICY, index, scope: { allow: [host] } });
      const { answer, outcome } = await answerReview(decider, review(`${host}/shop/new@${digest}`), OPTS);
      assert.equal(outcome, "failed-open");
      assert.match(answer.warnings?.[0] ?? "", /is not in the index \(strata index add indexes it\)/);
      const rows = await db.all("SELECT digest FROM manifests WHERE digest = ?", [digest]);
      assert.deepEqual(rows, [], "nothing was indexed");
    } finally {
      await registry.close();
    }
  });
});
