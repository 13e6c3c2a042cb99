import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type DeciderOptions, ImageDecider } from "../../src/admission/decider.js";
import type { WebhookServerOptions } from "../../src/admission/server.js";
import { readFeed } from "../../src/advisories/feed.js";
import type { Db } from "../../src/database/db.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { type Image, imageDescriptor } from "../../src/oci/image.js";
import { parsePolicy } from "../../src/policy/policy.js";
import { runStrata, STRATA_BIN } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import { indexBackends, openIndexWithDb } from "../helpers/index-backends.js";
import { selfSignedCertificate } from "../helpers/registry.js";
import { postReview, reviewOf, serveTestWebhook } from "../helpers/webhook.js";

/**
 * Verdicts kept until the index changes: a new feed or a change of the images is seen without a
 * restart (the change counters), concurrent first reviews share one evaluation, the caches are
 * bounded, and the indexed images can be read ahead of their first review.
 */

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
const POLICY = "deny:\n  fixable: { severity: medium }\n";
const BASE = { name: "base-files", version: "12.4+deb12u11" };
const OLD_SSL = { name: "libssl3", version: "3.0.15-1~deb12u1", source: "openssl" };
const NOW = () => new Date("2027-01-15T12:00:00Z");

async function storeTracker(index: FleetIndex): Promise<void> {
  const feed = await readFeed(join(FIXTURES, "advisories", "tracker.json"));
  await index.advisories.store(
    { location: "tracker.json", kind: "tracker", date: feed.date },
    feed.advisories,
  );
}

/** A metric's value from the webhook's /metrics. */
async function metric(url: string, ca: string, name: string): Promise<number> {
  const text = (await postReview(url, ca, "", "/metrics")).body.error ?? "";
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  assert.ok(line, `${name} in /metrics`);
  return Number(line.split(" ")[1]);
}

/** Counts the statements run on `db` (a wrapper: the index itself is untouched). */
function counted(db: Db): { db: Db; statements: () => number } {
  let n = 0;
  const wrapped: Db = Object.create(db);
  for (const method of ["all", "get", "run"] as const)
    Object.defineProperty(wrapped, method, {
      value: (...args: [string, never[]]) => {
        n++;
        return (db[method] as (...a: unknown[]) => unknown).apply(db, args);
      },
    });
  return { db: wrapped, statements: () => n };
}

const { backends: BACKENDS, dir: backendsDir } = indexBackends("admission-verdicts");

for (const backend of BACKENDS)
  describe(`webhook verdicts kept until the index changes, on ${backend.name}`, { timeout: 120_000 }, () => {
    let dir: string;
    const servers: { close(): void }[] = [];
    const indexes: FleetIndex[] = [];

    const databases = new Map<FleetIndex, Db>();

    async function freshIndex(): Promise<FleetIndex> {
      const { index, db } = await openIndexWithDb(await backend.location());
      indexes.push(index);
      databases.set(index, db);
      return index;
    }

    async function addImage(index: FleetIndex, image: Image, repository = "shop/web"): Promise<string> {
      const digest = imageDescriptor(image).digest;
      await index.add(image, "test", [
        { registry: "registry.example", repository, tag: "", topDigest: digest },
      ]);
      return `registry.example/${repository}@${digest}`;
    }

    async function serve(
      index: FleetIndex | Db,
      opts: Partial<DeciderOptions> = {},
      serveOpts: Partial<WebhookServerOptions> = {},
    ) {
      const fleet = index instanceof FleetIndex ? index : FleetIndex.over(index);
      const decider = new ImageDecider({
        policy: parsePolicy(POLICY, "policy.yaml"),
        index: fleet,
        refreshMs: 0,
        indexMissing: false,
        ...opts,
      });
      const served = await serveTestWebhook(decider, dir, `verdicts-${backend.name}-${servers.length}`, {
        now: NOW,
        ...serveOpts,
      });
      servers.push(served.server);
      const review = async (image: string) =>
        (await postReview(served.url, served.ca, await reviewOf("pod-review.json", image))).body.response!;
      return { ...served, review, metric: (name: string) => metric(served.url, served.ca, name) };
    }

    before(() => {
      dir = backendsDir();
    });

    after(async () => {
      for (const s of servers) s.close();
      for (const i of indexes) await i.close();
    });

    it("denies an image once a feed that names its CVE is stored, without a restart", async () => {
      const index = await freshIndex();
      const image = await addImage(index, (await strataImage([BASE, OLD_SSL])).image);
      const webhook = await serve(index);
      assert.equal((await webhook.review(image)).allowed, true, "no feed: nothing to deny");
      assert.equal((await webhook.review(image)).allowed, true);
      assert.equal(await webhook.metric("strata_admission_evaluations_total"), 1, "the second was kept");
      await storeTracker(index);
      const after = await webhook.review(image);
      assert.equal(after.allowed, false);
      assert.match(after.status!.message, /CVE-2025-9230 \(high\) in libssl3/);
      assert.equal(await webhook.metric("strata_admission_evaluations_total"), 2);
    });

    it("sees an image indexed, then removed, without a restart (failing closed while it is not indexed)", async () => {
      const index = await freshIndex();
      await storeTracker(index);
      const { image } = await strataImage([BASE, OLD_SSL]);
      const name = `registry.example/shop/web@${imageDescriptor(image).digest}`;
      const webhook = await serve(index);
      const unknown = await webhook.review(name);
      assert.equal(unknown.allowed, false);
      assert.match(unknown.status!.message, /not in the index/);
      await addImage(index, image);
      const indexed = await webhook.review(name);
      assert.equal(indexed.allowed, false);
      assert.match(indexed.status!.message, /CVE-2025-9230/);
      await index.remove({ digest: imageDescriptor(image).digest });
      assert.match((await webhook.review(name)).status!.message, /not in the index/);
    });

    it("reads a first-seen image in five statements (one per kind of fact) and decides it again from memory", async () => {
      const index = await freshIndex();
      await storeTracker(index);
      const image = await addImage(index, (await strataImage([BASE, OLD_SSL])).image);
      const { db, statements } = counted(databases.get(index)!);
      const webhook = await serve(db, { refreshMs: 60_000 });
      assert.equal((await webhook.review(image)).allowed, false);
      // The change counters, the image with its packages, the versions offered, the advisories of
      // its release, and what covers that release.
      assert.equal(statements(), 5);
      assert.equal((await webhook.review(image)).allowed, false);
      assert.equal(statements(), 5, "a second review reads nothing");
    });

    it("fails closed (or open, as asked) when the index's change counters cannot be read", async () => {
      const index = await freshIndex();
      await storeTracker(index);
      const image = await addImage(index, (await strataImage([BASE])).image);
      let broken = false;
      const under = databases.get(index)!;
      const db: Db = Object.create(under);
      Object.defineProperty(db, "all", {
        value: (sql: string, params?: never[]) =>
          broken && sql.includes("index_changes")
            ? Promise.reject(new Error("connection refused"))
            : under.all(sql, params),
      });
      const closed = await serve(db);
      const open = await serve(db, {}, { failurePolicy: "open" });
      assert.equal((await closed.review(image)).allowed, true);
      broken = true;
      const denied = await closed.review(image);
      assert.equal(denied.allowed, false);
      assert.match(denied.status!.message, /connection refused/);
      const allowed = await open.review(image);
      assert.equal(allowed.allowed, true);
      assert.match(allowed.warnings!.join("\n"), /connection refused/);
    });

    it("shares one evaluation among concurrent first reviews of one image", async () => {
      const index = await freshIndex();
      await storeTracker(index);
      const { image } = await strataImage([BASE, OLD_SSL]);
      const pinned = await addImage(index, image);
      const other = `registry.example/shop/other@${imageDescriptor(image).digest}`;
      const webhook = await serve(index);
      const answers = await Promise.all(
        Array.from({ length: 24 }, (_, i) => webhook.review(i % 2 === 0 ? pinned : other)),
      );
      assert.ok(answers.every((a) => a.allowed === false));
      assert.equal(await webhook.metric("strata_admission_evaluations_total"), 1);
    });

    it("keeps at most --max-images facts, evicting the least recently used", async () => {
      const index = await freshIndex();
      await storeTracker(index);
      const images: string[] = [];
      for (const label of ["a", "b", "c"])
        images.push(await addImage(index, (await strataImage([BASE, OLD_SSL], { label })).image));
      const webhook = await serve(index, { maxImages: 2 });
      for (const image of images) await webhook.review(image);
      assert.equal(await webhook.metric("strata_admission_facts_entries"), 2);
      assert.equal(await webhook.metric("strata_admission_facts_evictions_total"), 1);
      assert.equal(await webhook.metric("strata_admission_evaluations_total"), 3);
      await webhook.review(images[2]);
      assert.equal(await webhook.metric("strata_admission_evaluations_total"), 3, "c, used last, was kept");
      await webhook.review(images[0]);
      assert.equal(
        await webhook.metric("strata_admission_evaluations_total"),
        4,
        "a, the oldest, was evicted",
      );
      assert.equal(await webhook.metric("strata_admission_facts_entries"), 2);
    });

    it("reads the indexed images ahead of their first review, and again after a new feed", async () => {
      const index = await freshIndex();
      const images: string[] = [];
      for (const label of ["a", "b", "c"])
        images.push(await addImage(index, (await strataImage([BASE, OLD_SSL], { label })).image));
      const webhook = await serve(index, {}, { precompute: { everyMs: 20, maxImages: 100 } });
      const evaluated = async (n: number) => {
        for (let i = 0; i < 200 && (await webhook.metric("strata_admission_evaluations_total")) < n; i++)
          await sleep(25);
        assert.equal(await webhook.metric("strata_admission_evaluations_total"), n);
      };
      await evaluated(3);
      assert.equal((await webhook.review(images[1])).allowed, true, "no feed yet");
      assert.equal(await webhook.metric("strata_admission_evaluations_total"), 3, "a first review was a hit");
      await storeTracker(index);
      await evaluated(6);
      assert.equal((await webhook.review(images[2])).allowed, false);
      assert.equal(await webhook.metric("strata_admission_evaluations_total"), 6);
    });
  });

/** `strata admission serve` in its own process until `close()`; its URL once it says it listens. */
async function serveCli(args: string[]): Promise<{ url: string; close(): void }> {
  const child: ChildProcess = spawn(process.execPath, [STRATA_BIN, "admission", "serve", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`admission serve did not listen:\n${text}`)), 30_000);
    const onData = (d: Buffer) => {
      text += d;
      const m = /listening on (https:\/\/\S+) /.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code) => reject(new Error(`admission serve exited ${code}:\n${text}`)));
  }).catch((err) => {
    child.kill("SIGKILL");
    throw err;
  });
  return { url, close: () => child.kill("SIGTERM") };
}

describe("strata admission serve precomputes the indexed images", { timeout: 120_000 }, () => {
  it("reads every indexed image at start, not with --no-precompute, and refuses --max-images 0", async () => {
    const dir = await tempDir("admission-precompute-cli");
    const indexPath = join(dir, "index.db");
    const index = await FleetIndex.open(indexPath);
    for (const label of ["a", "b"]) {
      const { image } = await strataImage([BASE, OLD_SSL], { label });
      const digest = imageDescriptor(image).digest;
      await index.add(image, "test", [
        { registry: "r.example", repository: label, tag: "1", topDigest: digest },
      ]);
    }
    await index.close();
    const policy = join(dir, "policy.yaml");
    await writeFile(policy, POLICY);
    const { certFile, keyFile } = await selfSignedCertificate(dir, "cli");
    const ca = await readFile(certFile, "utf8");
    const args = ["--policy", policy, "--tls-cert", certFile, "--tls-key", keyFile];
    args.push("--listen", "127.0.0.1:0", "--index", indexPath);
    const warm = await serveCli(args);
    const cold = await serveCli([...args, "--no-precompute"]);
    try {
      let evaluated = 0;
      for (let i = 0; i < 200 && evaluated < 2; i++) {
        await sleep(50);
        evaluated = await metric(warm.url, ca, "strata_admission_evaluations_total");
      }
      assert.equal(evaluated, 2);
      assert.equal(await metric(cold.url, ca, "strata_admission_evaluations_total"), 0);
    } finally {
      warm.close();
      cold.close();
    }
    for (const bad of ["0", "1e3", "0x10", " 5"]) {
      const refused = await runStrata(["admission", "serve", ...args, "--max-images", bad]);
      assert.equal(refused.code, 2, bad);
      assert.match(refused.stderr, /--max-images .* It must be a whole number from 1/);
    }
  });
});
