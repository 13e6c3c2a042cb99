import assert from "node:assert/strict";
import { createServer } from "node:http";
import { type AddressInfo, connect, type Socket } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ImageDecider } from "../../src/admission/decider.js";
import type { ReviewRequest } from "../../src/admission/review.js";
import { answerReview, webhookDecider } from "../../src/admission/webhook.js";
import type { Db } from "../../src/database/db.js";
import type { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { writeLocation } from "../../src/oci/locations/locations.js";
import { parseLocationName } from "../../src/oci/locations/name.js";
import { parsePolicy } from "../../src/policy/policy.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import { openIndexWithDb } from "../helpers/index-backends.js";
import { silentServer } from "../helpers/loopback.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";
import { postReview, serveTestWebhook } from "../helpers/webhook.js";

/** The webhook must never be a tool against a third party: what one review can make it fetch. */

function podReview(images: string[]): ReviewRequest {
  return {
    uid: "u1",
    kind: { group: "", version: "v1", kind: "Pod" },
    namespace: "shop",
    name: "web",
    object: { spec: { containers: images.map((image, i) => ({ name: `c${i}`, image })) } },
  };
}

const policy = parsePolicy("deny:\n  fixable: { severity: high }\n", "policy.yaml");

describe("admission webhook against amplification", { timeout: 120_000 }, () => {
  let dir: string;
  let index: FleetIndex;
  let db: Db;
  let silent: Awaited<ReturnType<typeof silentServer>>;
  let registry: RegistryServer;
  let indexed: string;

  before(async () => {
    dir = await tempDir("admission-amplification");
    ({ index, db } = await openIndexWithDb(join(dir, "index.db")));
    silent = await silentServer();
    registry = await startRegistry();
    const { image } = await strataImage([{ name: "base-files", version: "12.4+deb12u11" }]);
    const digest = imageDescriptor(image).digest;
    await index.add(image, "test", [
      { registry: "registry.example", repository: "shop/web", tag: "", topDigest: digest },
    ]);
    indexed = `registry.example/shop/web@${digest}`;
  });
  after(async () => {
    await silent.close();
    await registry.close();
    await index.close();
  });

  it("denies a review naming more than 64 images with the reason, fetching none, even failing open", async () => {
    const before = silent.accepted();
    const decider = new ImageDecider({ policy, index, scope: { allow: [silent.host] } });
    const images = Array.from({ length: 65 }, (_, i) => `${silent.host}/many:${i}`);
    const { answer } = await answerReview(decider, podReview(images), {
      audit: false,
      failurePolicy: "open",
      deadlineMs: 500,
    });
    assert.equal(answer.allowed, false);
    assert.match(answer.message ?? "", /more than 64 images in one review/);
    await sleep(100);
    assert.equal(silent.accepted(), before, "no connection was made");
  });

  it("keeps at most the cap of fetches open, cancels them at the deadline, and remembers the failures", async () => {
    const decider = new ImageDecider({ policy, index, scope: { allow: [silent.host] }, maxFetches: 3 });
    const review = podReview(Array.from({ length: 12 }, (_, i) => `${silent.host}/slow:${i}`));
    const opts = { audit: false, failurePolicy: "closed" as const, deadlineMs: 600 };
    const started = performance.now();
    const { answer } = await answerReview(decider, review, opts);
    assert.ok(performance.now() - started < 3000, "answered by the deadline");
    assert.equal(answer.allowed, false);
    assert.ok(silent.mostOpen() <= 3, `at most 3 connections at once, saw ${silent.mostOpen()}`);
    // A connection still opening is dropped by its connect timeout, whose timer ticks by the second.
    for (let waited = 0; silent.open() > 0 && waited < 2500; waited += 100) await sleep(100);
    assert.equal(silent.open(), 0, "every fetch was cancelled at the deadline");
    const made = silent.accepted();
    assert.ok(made >= 1 && made <= 3, `only the fetches under way when the deadline came: ${made}`);
    await sleep(500);
    assert.equal(silent.accepted(), made, "no fetch started after the deadline");
    const again = await answerReview(decider, review, opts);
    assert.equal(again.answer.allowed, false);
    assert.match(again.answer.message ?? "", /slow:0/);
    await sleep(100);
    assert.equal(silent.accepted(), made, "the same review again fetched nothing");
  });

  it("cancels a request a registry took and never answers at the review's deadline", async () => {
    // Plain http on loopback: the connection opens, the request is sent, no answer ever comes.
    const sockets = new Set<Socket>();
    let requests = 0;
    const server = createServer(() => {
      requests++;
    });
    server.on("connection", (socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const decider = new ImageDecider({ policy, index, scope: { allow: [host] }, maxFetches: 1 });
      const opts = { audit: false, failurePolicy: "closed" as const, deadlineMs: 1500 };
      const { answer } = await answerReview(decider, podReview([`${host}/mute:1`]), opts);
      assert.match(answer.message ?? "", /could not be decided within 1\.5 s/);
      assert.equal(requests, 1, "the registry took a request");
      await sleep(200);
      assert.equal(sockets.size, 0, "the request was cancelled, its connection closed");
      // Cancelled, not retried: the one fetch slot is free for the next review at once.
      await answerReview(decider, podReview([`${host}/mute:2`]), opts);
      assert.equal(requests, 2, "the next review's fetch was not held up");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it("with no --allow-registry fetches nothing: an image the index lacks is decided by the failure policy, which says why", async () => {
    const before = silent.accepted();
    const decider = webhookDecider({ policy, index });
    const strangers = [`${silent.host}/x:1`, `${silent.host}/x@sha256:${"a".repeat(64)}`];
    const why = /not in the index and registry 127\.0\.0\.1:\d+ may not be fetched \(--allow-registry\)/;
    const open = await answerReview(decider, podReview(strangers), {
      audit: false,
      failurePolicy: "open",
      deadlineMs: 1000,
    });
    assert.equal(open.answer.allowed, true);
    assert.equal(open.answer.warnings?.filter((w) => why.test(w)).length, 2);
    const closed = await answerReview(decider, podReview([`${silent.host}/y:1`]), {
      audit: false,
      failurePolicy: "closed",
      deadlineMs: 1000,
    });
    assert.equal(closed.answer.allowed, false);
    assert.match(closed.answer.message ?? "", why);
    const known = await answerReview(decider, podReview([indexed]), {
      audit: false,
      failurePolicy: "closed",
      deadlineMs: 1000,
    });
    assert.equal(known.answer.allowed, true, "an indexed image is decided without its registry");
    assert.equal(silent.accepted(), before, "no registry was contacted");
  });

  it("resolves a tag at an allowed registry but indexes nothing a request names", async () => {
    const { image } = await strataImage([{ name: "base-files", version: "12.4+deb12u11" }], {
      label: "unindexed",
    });
    const ref = `${registry.host}/shop/unindexed:1`;
    await writeLocation(
      parseLocationName(`docker://${ref}`)!,
      { kind: "image", image },
      { refName: "1", archiveName: ref },
    );
    const count = async () =>
      (await db.get<{ n: number }>("SELECT count(*) AS n FROM manifests", []))?.n ?? 0;
    const manifests = await count();
    const decider = webhookDecider({ policy, index, scope: { allow: [registry.host] } });
    const { answer } = await answerReview(decider, podReview([ref]), {
      audit: false,
      failurePolicy: "closed",
      deadlineMs: 5000,
    });
    assert.equal(answer.allowed, false);
    assert.match(answer.message ?? "", /is not in the index \(strata index add indexes it\)/);
    assert.equal(await count(), manifests, "the index did not grow");
  });

  it("drops a TLS handshake that never finishes, and refuses connections beyond the cap", async () => {
    const served = await serveTestWebhook(webhookDecider({ policy, index }), dir, "bounded", {
      handshakeTimeoutMs: 300,
      maxConnections: 2,
    });
    try {
      const port = Number(new URL(served.url).port);
      const closedWithin = (ms: number) =>
        new Promise<boolean>((resolve) => {
          const socket = connect(port, "127.0.0.1");
          socket.on("error", () => {});
          const timer = setTimeout(() => {
            socket.destroy();
            resolve(false);
          }, ms);
          socket.on("close", () => {
            clearTimeout(timer);
            resolve(true);
          });
        });
      assert.equal(await closedWithin(2000), true, "a silent client is dropped after the handshake timeout");
      const held = [connect(port, "127.0.0.1"), connect(port, "127.0.0.1")];
      for (const s of held) s.on("error", () => {});
      await sleep(100);
      const third = closedWithin(250);
      assert.equal(await third, true, "a third connection is refused while two are open");
      for (const s of held) s.destroy();
      await sleep(400);
      assert.equal((await postReview(served.url, served.ca, "", "/healthz")).status, 200);
    } finally {
      served.server.close();
    }
  });
});
