import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { readFeed } from "../../src/advisories/feed.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { scanFleet } from "../../src/scan/fleet-scan.js";
import { strataImage } from "../helpers/fleet-images.js";
import { indexBackends } from "../helpers/index-backends.js";

const FIXTURES = new URL("../fixtures/advisories/", import.meta.url).pathname;

/** Every test runs on both databases, as the fleet index's own do. */
const { backends: BACKENDS } = indexBackends("advisory-store");

const BASE = { name: "base-files", version: "12.4+deb12u11" };
const OLD_SSL = { name: "libssl3", version: "3.0.15-1~deb12u1", source: "openssl" };
const NEW_SSL = { name: "libssl3", version: "3.0.17-1~deb12u3", source: "openssl" };
const ZLIB = { name: "zlib1g", version: "1:1.2.13.dfsg-1", source: "zlib" };

for (const backend of BACKENDS) {
  describe(`advisories in the index on ${backend.name}`, () => {
    test("a feed stored again replaces what it said, and keeps its date", async () => {
      const index = await FleetIndex.open(await backend.location());
      try {
        const feed = await readFeed(join(FIXTURES, "tracker.json"), (r) => r === "bookworm");
        await index.advisories.store(
          { location: "tracker.json", kind: "tracker", date: "2026-11-30T00:00:00.000Z" },
          feed.advisories,
        );
        const stored = await index.advisories.advisories("bookworm", ["openssl", "zlib"]);
        assert.deepEqual(stored.map((a) => a.id).sort(), [
          "CVE-2023-45853",
          "CVE-2024-5535",
          "CVE-2025-9230",
          "CVE-2025-9232",
        ]);
        assert.deepEqual(
          stored.find((a) => a.id === "CVE-2024-5535"),
          feed.advisories.find((a) => a.id === "CVE-2024-5535"),
          "every field comes back as stored",
        );
        await index.advisories.store(
          { location: "tracker.json", kind: "tracker", date: "2026-12-01T00:00:00.000Z" },
          feed.advisories.slice(0, 2),
        );
        const feeds = await index.advisories.feeds();
        assert.deepEqual(
          feeds.map((f) => [f.location, f.kind, f.date, f.advisories]),
          [["tracker.json", "tracker", "2026-12-01T00:00:00.000Z", 2]],
        );
        assert.equal((await index.advisories.advisories("bookworm", ["curl", "openssl", "zlib"])).length, 2);
      } finally {
        await index.close();
      }
    });

    test("each image's release is covered or not: a trixie image with bookworm feeds is unknown, not clean", async () => {
      const index = await FleetIndex.open(await backend.location());
      try {
        const bookworm = await strataImage([BASE, NEW_SSL]);
        const trixie = await strataImage([{ name: "base-files", version: "13.8+deb13u1" }, NEW_SSL]);
        for (const [image, tag] of [
          [bookworm.image, "12"],
          [trixie.image, "13"],
        ] as const) {
          const topDigest = imageDescriptor(image).digest;
          await index.add(image, "test", [{ registry: "registry.test", repository: "app", tag, topDigest }]);
        }
        const none = await scanFleet(index);
        assert.ok(
          none.every((s) => !s.coverage.covered && s.findings.length === 0),
          "no feed: nothing covered",
        );
        const feed = await readFeed(join(FIXTURES, "tracker.json"));
        const tracker = { location: "tracker.json", kind: "tracker" as const, date: feed.date };
        await index.advisories.store(tracker, feed.advisories);
        // Evidence from bookworm repositories without the security suite sees no security fix: listed, not counted.
        const spec = { location: "changelogs:spec", kind: "changelog" as const, date: feed.date };
        await index.advisories.store(spec, [], [], [{ ...spec, release: "trixie", suites: ["trixie"] }]);
        const byTag = new Map((await scanFleet(index)).map((s) => [s.reference, s]));
        const twelve = byTag.get("registry.test/app:12")!;
        assert.equal(twelve.coverage.covered, true);
        assert.deepEqual(
          twelve.coverage.sources.map((c) => c.location),
          ["tracker.json"],
        );
        const thirteen = byTag.get("registry.test/app:13")!;
        assert.equal(thirteen.release, "trixie");
        assert.equal(thirteen.coverage.covered, false);
        assert.deepEqual(
          thirteen.coverage.sources.map((c) => [c.location, c.suites]),
          [["changelogs:spec", ["trixie"]]],
        );
        await index.advisories.store(
          spec,
          [],
          [],
          [{ ...spec, release: "trixie", suites: ["trixie", "trixie-security"] }],
        );
        const now = (await scanFleet(index)).find((s) => s.reference === "registry.test/app:13")!;
        assert.equal(now.coverage.covered, true, "evidence with the security suite covers its release");
        await index.advisories.store(tracker, []);
        const emptied = (await scanFleet(index)).find((s) => s.reference === "registry.test/app:12")!;
        assert.equal(
          emptied.coverage.covered,
          false,
          "a feed stored again without bookworm no longer covers it",
        );
      } finally {
        await index.close();
      }
    });

    test("scan --fleet finds each image's vulnerabilities from the database alone", async () => {
      const index = await FleetIndex.open(await backend.location());
      try {
        const old = await strataImage([BASE, OLD_SSL, ZLIB]);
        const fixed = await strataImage([BASE, NEW_SSL]);
        for (const [image, tag] of [
          [old.image, "1"],
          [fixed.image, "2"],
        ] as const) {
          const topDigest = imageDescriptor(image).digest;
          await index.add(image, "test", [{ registry: "registry.test", repository: "app", tag, topDigest }]);
        }
        const feed = await readFeed(join(FIXTURES, "tracker.json"));
        await index.advisories.store(
          { location: "tracker.json", kind: "tracker", date: feed.date },
          feed.advisories,
        );
        await index.advisories.store(
          { location: "changelogs:spec", kind: "changelog", date: feed.date },
          [],
          [
            {
              name: "zlib1g",
              architecture: "amd64",
              version: "1:1.2.13.dfsg-1+deb12u1",
              sourceVersion: "1:1.2.13.dfsg-1+deb12u1",
              suite: "bookworm-security",
            },
          ],
        );
        assert.equal(
          (await index.advisories.available(["zlib1g"])).get("zlib1g")?.suite,
          "bookworm-security",
        );
        const opened = old.opened.length + fixed.opened.length;
        const scans = await scanFleet(index);
        assert.equal(old.opened.length + fixed.opened.length, opened, "no layer read");
        const byTag = new Map(scans.map((s) => [s.reference, s]));
        const one = byTag.get("registry.test/app:1")!;
        assert.equal(one.release, "bookworm");
        assert.equal(one.packageCount, 3);
        assert.deepEqual(
          one.findings.map((f) => [f.package, f.id, f.status, f.updatable]),
          [
            ["libssl3", "CVE-2025-9230", "fixed", false],
            ["libssl3", "CVE-2025-9232", "undetermined", false],
            ["zlib1g", "CVE-2023-45853", "fixed", true],
          ],
        );
        assert.deepEqual(
          byTag.get("registry.test/app:2")!.findings.map((f) => f.id),
          ["CVE-2025-9232"],
        );
      } finally {
        await index.close();
      }
    });
  });
}
