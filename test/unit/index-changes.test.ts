import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Advisory } from "../../src/advisories/advisory.js";
import type { Db } from "../../src/database/db.js";
import { type Generations, GenerationWatch, readGenerations } from "../../src/database/generations.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { strataImage } from "../helpers/fleet-images.js";
import { indexBackends } from "../helpers/index-backends.js";

/**
 * The index's change counters: every write that changes what an image is found to hold, or what
 * the advisories say, counts one; a reader asks for them at most once per period.
 */

const { backends: BACKENDS } = indexBackends("index-changes");
const BASE = { name: "base-files", version: "12.4+deb12u11" };
const ADVISORY: Advisory = {
  id: "CVE-2025-9230",
  source: "openssl",
  release: "bookworm",
  status: "fixed",
  fixedVersion: "3.0.17-1~deb12u3",
  severity: "high",
  origin: "tracker",
};

for (const backend of BACKENDS)
  describe(`index change counters on ${backend.name}`, { timeout: 120_000 }, () => {
    test("add, a new ref, remove and prune count image changes; storing a feed counts an advisories change", async () => {
      const index = await FleetIndex.open(await backend.location());
      try {
        assert.deepEqual(await index.generations(), { images: 0, advisories: 0 });
        const { image } = await strataImage([BASE]);
        const digest = imageDescriptor(image).digest;
        const ref = (tag: string) => ({
          registry: "r.example",
          repository: "shop/web",
          tag,
          topDigest: digest,
        });
        await index.add(image, "test", [ref("1")]);
        assert.deepEqual(await index.generations(), { images: 1, advisories: 0 });
        await index.add(image, "test", [ref("2")]);
        assert.equal((await index.generations()).images, 2, "a new name for a known image");
        await index.remove({ ref: { registry: "r.example", repository: "shop/web", tag: "1" } });
        assert.equal((await index.generations()).images, 3);
        await index.prune();
        assert.equal((await index.generations()).images, 4);
        const feed = { location: "tracker.json", kind: "tracker" as const, date: "2026-12-01" };
        await index.advisories.store(feed, [ADVISORY]);
        assert.deepEqual(await index.generations(), { images: 4, advisories: 1 });
      } finally {
        await index.close();
      }
    });

    test("a failed write counts nothing", async () => {
      const index = await FleetIndex.open(await backend.location());
      try {
        const bad = { ...ADVISORY, severity: undefined as unknown as "high" };
        const feed = { location: "bad.json", kind: "tracker" as const, date: "2026-12-01" };
        await assert.rejects(index.advisories.store(feed, [bad]));
        assert.deepEqual(await index.generations(), { images: 0, advisories: 0 });
      } finally {
        await index.close();
      }
    });
  });

describe("reading the change counters", () => {
  /** Reads the counters of a database whose counters say `generation` and whose reads are counted, or fail. */
  function fakeCounters(state: {
    reads: number;
    fail: boolean;
    generation: number;
  }): () => Promise<Generations> {
    const db = {
      all: async () => {
        state.reads++;
        if (state.fail) throw new Error("connection refused");
        return [
          { what: "images", generation: state.generation },
          { what: "advisories", generation: "7" },
        ];
      },
    } as unknown as Db;
    return () => readGenerations(db);
  }

  test("is done at most once a period, shared by concurrent callers", async () => {
    const state = { reads: 0, fail: false, generation: 1 };
    const watch = new GenerationWatch(fakeCounters(state), 60_000);
    const seen = await Promise.all([watch.current(), watch.current(), watch.current()]);
    assert.deepEqual(seen[2], { images: 1, advisories: 7 });
    state.generation = 2;
    assert.equal((await watch.current()).images, 1, "within the period: not read again");
    assert.equal(state.reads, 1);
  });

  test("reads again after the period, and does not keep a failed read", async () => {
    const state = { reads: 0, fail: true, generation: 1 };
    const watch = new GenerationWatch(fakeCounters(state), 60_000);
    await assert.rejects(watch.current(), /connection refused/);
    state.fail = false;
    assert.equal((await watch.current()).images, 1);
    const every = new GenerationWatch(fakeCounters(state), 0);
    await every.current();
    state.generation = 5;
    assert.equal((await every.current()).images, 5);
  });
});
