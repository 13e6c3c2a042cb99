import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { BoundedCache } from "../../src/util/bounded-cache.js";
import { Canonical } from "../../src/util/canonical.js";

/** The webhook's in-memory caches: bounded, shared by concurrent callers, failures kept briefly. */

describe("a bounded cache of promises", { timeout: 10_000 }, () => {
  test("concurrent callers of one key share one make()", async () => {
    const cache = new BoundedCache<number>({ ttlMs: 60_000, maxEntries: 10 });
    let made = 0;
    const make = async () => {
      made++;
      await sleep(5);
      return 42;
    };
    assert.deepEqual(
      await Promise.all([cache.get("k", make), cache.get("k", make), cache.get("k", make)]),
      [42, 42, 42],
    );
    assert.equal(made, 1);
    assert.deepEqual(cache.stats(), { hits: 2, misses: 1, evictions: 0, entries: 1 });
  });

  test("keeps at most maxEntries, dropping the least recently used", async () => {
    const cache = new BoundedCache<string>({ ttlMs: 60_000, maxEntries: 2 });
    const made: string[] = [];
    const get = (k: string) =>
      cache.get(k, async () => {
        made.push(k);
        return k;
      });
    for (const k of ["a", "b", "a", "c", "a", "b"]) await get(k);
    assert.deepEqual(made, ["a", "b", "c", "b"], "b, used least recently, went when c came");
    assert.equal(cache.stats().entries, 2);
    assert.equal(cache.stats().evictions, 2);
  });

  test("makes a value again after ttlMs, and a failure after failureTtlMs", async () => {
    const cache = new BoundedCache<number>({ ttlMs: 40, failureTtlMs: 1, maxEntries: 10 });
    let made = 0;
    const value = () => cache.get("v", async () => ++made);
    assert.equal(await value(), 1);
    assert.equal(await value(), 1);
    await sleep(60);
    assert.equal(await value(), 2, "expired");
    let tries = 0;
    const failing = () =>
      cache.get("f", async () => {
        tries++;
        throw new Error("unreachable");
      });
    await assert.rejects(failing());
    await sleep(10);
    await assert.rejects(failing());
    assert.equal(tries, 2, "the failure was kept only briefly");
    assert.equal(cache.has("v"), true);
  });

  test("a value in use past refreshAfterMs is made again in the background; callers never wait for it", async () => {
    const cache = new BoundedCache<number>({ ttlMs: 60_000, maxEntries: 10, refreshAfterMs: 20 });
    let made = 0;
    let release = () => {};
    const make = async () => {
      made++;
      if (made > 1) await new Promise<void>((r) => (release = r));
      return made;
    };
    assert.equal(await cache.get("k", make), 1);
    await sleep(30);
    // Past refreshAfterMs: the old value at once, a new one being made.
    assert.equal(await cache.get("k", make), 1);
    assert.equal(await cache.get("k", make), 1);
    assert.equal(made, 2, "one refresh, however many callers");
    release();
    await sleep(5);
    assert.equal(await cache.get("k", make), 2, "the refreshed value took its place");
  });

  test("a failed refresh keeps the value it had, and is not tried again on every call", async () => {
    const cache = new BoundedCache<string>({ ttlMs: 60_000, maxEntries: 10, refreshAfterMs: 20 });
    let tries = 0;
    const make = async () => {
      if (++tries > 1) throw new Error("registry down");
      return "first";
    };
    assert.equal(await cache.get("k", make), "first");
    await sleep(30);
    assert.equal(await cache.get("k", make), "first");
    await sleep(1);
    assert.equal(await cache.get("k", make), "first");
    assert.equal(tries, 2);
  });

  test("delete forgets a key: the next get makes it anew", async () => {
    const cache = new BoundedCache<number>({ ttlMs: 60_000, maxEntries: 10 });
    let made = 0;
    await cache.get("k", async () => ++made);
    cache.delete("k");
    assert.equal(await cache.get("k", async () => ++made), 2);
  });
});

describe("canonical values", () => {
  test("equal values become one frozen object; past the bound it starts afresh", () => {
    const canonical = new Canonical(2);
    const a = canonical.of("a", { name: "a" });
    assert.equal(canonical.of("a", { name: "a" }), a);
    assert.ok(Object.isFrozen(a));
    canonical.of("b", { name: "b" });
    canonical.of("c", { name: "c" });
    assert.notEqual(canonical.of("a", { name: "a" }), a, "forgotten when the bound was reached");
  });
});
