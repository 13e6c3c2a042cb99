import assert from "node:assert/strict";
import { cp, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import type { ImageRef } from "../../src/fleet/store.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { joinContainers } from "../../src/ps/join.js";
import { psJson, psLines } from "../../src/ps/report.js";
import { scanFleet } from "../../src/scan/fleet-scan.js";
import { FleetView } from "../../src/serve/fleet-view.js";
import { parseListen } from "../../src/serve/listen.js";
import { buildServer } from "../../src/serve/server.js";
import { Vulnerabilities } from "../../src/serve/vulnerabilities.js";
import { runStrata } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import { indexBackends } from "../helpers/index-backends.js";

/**
 * Superseded images: a tag moves to a new manifest (`update` in place, then `sync`), and the old
 * manifest, which no ref names any more, is marked superseded, left out of fleet views unless asked
 * for, still joined by `ps`, and removed by `index prune`. On SQLite and on a real PostgreSQL.
 */

const { backends: BACKENDS } = indexBackends("superseded");
let pageDir: string;
before(async () => {
  // Its own directory: the backends' hook may not have made theirs yet.
  pageDir = join(await tempDir("superseded-page"), "page");
  await cp(new URL("../../src/serve/page/", import.meta.url), pageDir, { recursive: true });
  await writeFile(join(pageDir, "app.js"), "");
});

const BASE = { name: "base-files", version: "12.4+deb12u5" };
const OLD_SSL = { name: "libssl3", version: "3.0.11-1~deb12u2", source: "openssl" };
const NEW_SSL = { name: "libssl3", version: "3.0.15-1~deb12u1", source: "openssl" };
const CURL = { name: "curl", version: "7.88.1-10+deb12u5" };

const tagRef = (repository: string, tag: string, topDigest: string): ImageRef => ({
  registry: "registry.test",
  repository,
  tag,
  topDigest,
});

/** app:1 built, then updated in place (the tag moves, as sync records it), and other:1 beside them. */
async function fleetWithSupersededImage(location: string) {
  const old = (await strataImage([BASE, OLD_SSL])).image;
  const updated = (await strataImage([BASE, NEW_SSL])).image;
  const other = (await strataImage([BASE, CURL])).image;
  const [oldDigest, newDigest, otherDigest] = [old, updated, other].map((i) => imageDescriptor(i).digest);
  const index = await FleetIndex.open(location);
  await index.add(old, "old", [tagRef("team/app", "1", oldDigest)], { moveTag: true });
  await index.add(updated, "new", [tagRef("team/app", "1", newDigest)], { moveTag: true });
  await index.add(other, "other", [tagRef("team/other", "1", otherDigest)], { moveTag: true });
  return { index, old, oldDigest, newDigest, otherDigest };
}

for (const backend of BACKENDS) {
  describe(`superseded images on ${backend.name}`, { timeout: 120_000 }, () => {
    test("a manifest no tag names any more is superseded: left out of the list and scan --fleet unless all", async () => {
      const { index, oldDigest, newDigest, otherDigest } = await fleetWithSupersededImage(
        await backend.location(),
      );
      try {
        const current = await index.images();
        assert.deepEqual(current.map((i) => i.digest).sort(), [newDigest, otherDigest].sort());
        assert.ok(current.every((i) => !i.superseded));
        const all = await index.images({ all: true });
        assert.equal(all.length, 3);
        const old = all.find((i) => i.digest === oldDigest)!;
        assert.deepEqual([old.superseded, old.refs], [true, []]);
        assert.equal((await index.stats()).superseded, 1);
        const scanned = (await scanFleet(index)).map((s) => s.digest);
        assert.deepEqual(scanned.sort(), [newDigest, otherDigest].sort());
        const scannedAll = await scanFleet(index, { all: true });
        assert.equal(scannedAll.find((s) => s.digest === oldDigest)?.superseded, true);
        assert.equal(scannedAll.length, 3);
      } finally {
        await index.close();
      }
    });

    test("ps still reports a running container of the superseded image, and says so", async () => {
      const { index, oldDigest } = await fleetWithSupersededImage(await backend.location());
      try {
        const container = {
          runtime: "podman" as const,
          id: "c1",
          name: "shop-api",
          image: "registry.test/team/app:1",
          imageDigests: [oldDigest],
          diffIds: [],
        };
        const reports = await joinContainers(index, new Vulnerabilities(index), [container]);
        assert.equal(reports[0].match?.image.digest, oldDigest);
        assert.equal(reports[0].packages.length, 2, "its packages are still known");
        assert.match(psLines(reports)[1], /manifest [0-9a-f]{12} \(superseded\)/);
        assert.equal(psJson(reports).containers[0].indexed?.superseded, true);
      } finally {
        await index.close();
      }
    });

    test("index rm takes only what its names leave unnamed; prune removes the superseded image and the layers only it held", async () => {
      const { index, oldDigest, newDigest, otherDigest } = await fleetWithSupersededImage(
        await backend.location(),
      );
      try {
        assert.equal((await index.byDigest(otherDigest)).length > 0, true);
        const layersBefore = (await index.stats()).layers;
        const removed = await index.remove({
          ref: { registry: "registry.test", repository: "team/other", tag: "1" },
        });
        assert.deepEqual(removed, { refs: 1, images: 1 });
        const left = (await index.images({ all: true })).map((i) => i.digest).sort();
        assert.deepEqual(left, [newDigest, oldDigest].sort(), "rm of another tag keeps the superseded image");
        assert.equal((await index.stats()).layers, layersBefore - 1, "curl's layer went with team/other:1");

        const pruned = await index.prune();
        assert.deepEqual(
          pruned.images.map((i) => [i.digest, i.superseded]),
          [[oldDigest, true]],
        );
        assert.equal(pruned.layers, 1, "the old libssl3 layer; base and base-files stay with the new image");
        assert.deepEqual(
          (await index.images({ all: true })).map((i) => i.digest),
          [newDigest],
        );
        assert.equal((await index.packagesOf(newDigest)).length, 2, "the current image is whole");
        assert.deepEqual(await index.prune(), { images: [], layers: 0 }, "nothing more to prune");
      } finally {
        await index.close();
      }
    });

    test("the page's API leaves superseded images out unless ?all=true, and refuses any other value", async () => {
      const { index, oldDigest } = await fleetWithSupersededImage(await backend.location());
      const view = new FleetView(index, new Vulnerabilities(index));
      const app = await buildServer({ view, pageDir, listen: parseListen("127.0.0.1:8080") });
      try {
        const get = async (url: string) => {
          const res = await app.inject({ method: "GET", url, headers: { host: "127.0.0.1:8080" } });
          return { status: res.statusCode, body: res.json() };
        };
        const digests = (body: { images: { digest: string }[] }) => body.images.map((i) => i.digest);
        const fleet = await get("/api/fleet");
        assert.equal(fleet.status, 200);
        assert.ok(!digests(fleet.body).includes(oldDigest));
        const all = await get("/api/fleet?all=true");
        assert.ok(digests(all.body).includes(oldDigest));
        const old = all.body.images.find((i: { digest: string }) => i.digest === oldDigest);
        assert.deepEqual([old.superseded, old.refs], [true, []]);
        assert.equal((await get("/api/fleet?all=false")).body.images.length, 2);
        assert.equal((await get("/api/vulnerable?all=true")).status, 200);
        for (const bad of [
          "/api/fleet?all=1",
          "/api/fleet?all=yes",
          "/api/vulnerable?all=",
          "/api/fleet?every=true",
        ])
          assert.equal((await get(bad)).status, 400, bad);
        assert.equal(
          (await get(`/api/images/${oldDigest}`)).status,
          200,
          "its own page stays reachable by digest",
        );
      } finally {
        await app.close();
        await index.close();
      }
    });

    test("through the CLI: index ls [--all], stats, scan --fleet [--all] and index prune --json", async () => {
      const location = await backend.location();
      const { index, oldDigest, newDigest } = await fleetWithSupersededImage(location);
      await index.close();
      const strata = async (...args: string[]) => {
        const r = await runStrata([...args, "--index", location]);
        assert.equal(r.code, 0, r.stderr);
        return r.stdout;
      };
      assert.doesNotMatch(await strata("index", "ls"), new RegExp(oldDigest));
      assert.match(
        await strata("index", "ls", "--all"),
        new RegExp(`${oldDigest} .*\\(superseded: no tag names it\\)`),
      );
      const listed = JSON.parse(await strata("index", "ls", "--all", "--json"));
      assert.equal(listed.find((i: { digest: string }) => i.digest === oldDigest).superseded, true);
      assert.match(await strata("index", "stats"), /^superseded: 1 images no tag names any more/m);
      const scan = JSON.parse(await strata("scan", "--fleet", "--json"));
      assert.ok(!scan.images.some((i: { digest: string }) => i.digest === oldDigest));
      const scanAll = JSON.parse(await strata("scan", "--fleet", "--all", "--json"));
      assert.equal(scanAll.images.find((i: { digest: string }) => i.digest === oldDigest)?.superseded, true);
      const alone = await runStrata(["scan", "--all", "--index", location]);
      assert.equal(alone.code, 2, "--all without --fleet is a usage error");
      assert.match(alone.stderr, /^strata: error: --all goes with --fleet\nstrata: hint: /m);

      const pruned = JSON.parse(await strata("index", "prune", "--json"));
      assert.deepEqual(
        pruned.images.map((i: { digest: string }) => i.digest),
        [oldDigest],
      );
      assert.equal(pruned.layers, 1);
      assert.match(await strata("index", "prune"), /^0 superseded images and 0 layers left the index$/m);
      const after = JSON.parse(await strata("index", "ls", "--all", "--json"));
      assert.ok(after.some((i: { digest: string }) => i.digest === newDigest));
      assert.ok(!after.some((i: { digest: string }) => i.digest === oldDigest));
    });
  });
}
