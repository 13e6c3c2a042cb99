import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runStrata } from "../helpers/cli.js";
import { craftDeb } from "../helpers/debs.js";
import { type FakePackage, type FakeRepo, fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";

/** Repositories as they are in the world: other mirrors, snapshots, replays (starts HTTP servers on loopback). */

async function workdir(specText: string): Promise<{ dir: string; cache: string }> {
  const dir = await mkdtemp(join(tmpdir(), "strata-repos-"));
  await writeFile(join(dir, "strata.yaml"), specText);
  return { dir, cache: join(dir, "cache") };
}

const strata = (cache: string, dir: string, ...args: string[]) =>
  runStrata(["--cache-dir", cache, ...args], { cwd: dir });

async function twoMirrors(packages: FakePackage[], body: (a: FakeRepo, b: FakeRepo) => Promise<void>) {
  const a = await startFakeRepo({ packages });
  const b = await startFakeRepo({ packages });
  try {
    await body(a, b);
  } finally {
    await a.close();
    await b.close();
  }
}

const poolHits = (repo: FakeRepo) =>
  [...repo.hits.entries()].filter(([path]) => path.startsWith("/pool/")).reduce((n, [, c]) => n + c, 0);

describe("a lock made against one mirror builds from another (--mirror)", () => {
  test("fetch --mirror downloads the locked .debs from the other mirror", () =>
    twoMirrors(
      [
        { name: "app", version: "1.0", fields: { Depends: "libfoo" } },
        { name: "libfoo", version: "2" },
      ],
      async (a, b) => {
        const { dir, cache } = await workdir(fakeRepoSpec(a, ["app"]));
        assert.equal((await strata(cache, dir, "lock")).code, 0);
        await a.close();
        const r = await strata(cache, dir, "--mirror", b.url, "fetch");
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, /2 \.debs ready \(2 downloaded/);
        assert.equal(poolHits(a), 0);
        assert.equal(poolHits(b), 2);
        // The lock still names the mirror it was made against.
        assert.match(await readFile(join(dir, "strata.lock"), "utf8"), new RegExp(a.url));
      },
    ));

  test("build --mirror builds from the other mirror without touching the lock", async () => {
    const debs = await mkdtemp(join(tmpdir(), "strata-mirror-debs-"));
    const deb = await craftDeb(debs, "hello", [{ name: "./usr/share/hello/greeting", body: "hi\n" }]);
    const packages = [{ name: "hello", version: "1.0", arch: "all", body: await readFile(deb.path) }];
    await twoMirrors(packages, async (a, b) => {
      const { dir, cache } = await workdir(fakeRepoSpec(a, ["hello"], "exclude: []"));
      assert.equal((await strata(cache, dir, "lock")).code, 0);
      const lockBefore = await readFile(join(dir, "strata.lock"));
      await a.close();
      const r = await strata(cache, dir, "--mirror", b.url, "build", "-o", join(dir, "out"));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(poolHits(b), 1);
      assert.ok((await readdir(join(dir, "out"))).includes("index.json"));
      assert.deepEqual(await readFile(join(dir, "strata.lock")), lockBefore);
    });
  });
});

describe("strata lock and the release dates (starts an HTTP server)", () => {
  test("an older InRelease after a newer one is refused; --allow-downgrade accepts it", async () => {
    const repo = await startFakeRepo({
      packages: [{ name: "app", version: "1" }],
      date: new Date("2026-11-20T00:00:00Z"),
    });
    try {
      const { dir, cache } = await workdir(fakeRepoSpec(repo, ["app"]));
      assert.equal((await strata(cache, dir, "lock")).code, 0);
      await repo.republish(new Date("2026-10-01T00:00:00Z"));
      const refused = await strata(cache, dir, "lock");
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr,
        /dated Thu, 01 Oct 2026 00:00:00 GMT, older than Fri, 20 Nov 2026 00:00:00 GMT seen before/,
      );
      assert.match(refused.stderr, /hint: .*--allow-downgrade/);
      const allowed = await strata(cache, dir, "lock", "--allow-downgrade");
      assert.equal(allowed.code, 0, allowed.stderr);
    } finally {
      await repo.close();
    }
  });

  test("an expired Valid-Until passes with check-valid-until: false or --no-check-valid-until, with a warning", async () => {
    const repo = await startFakeRepo({
      packages: [{ name: "app", version: "1" }],
      date: new Date("2025-12-01T00:00:00Z"),
      validUntil: new Date("2026-01-01T00:00:00Z"),
    });
    try {
      const { dir, cache } = await workdir(fakeRepoSpec(repo, ["app"]));
      const refused = await strata(cache, dir, "lock");
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /expired at .*\(Valid-Until\)/);
      const flag = await strata(cache, dir, "lock", "--no-check-valid-until");
      assert.equal(flag.code, 0, flag.stderr);
      assert.match(flag.stderr, /strata: warning: .*expired at .*used anyway/);
      const specKey = fakeRepoSpec(repo, ["app"]).replace(
        "    components: [main]",
        "    components: [main]\n    check-valid-until: false",
      );
      const other = await workdir(specKey);
      const key = await strata(other.cache, other.dir, "lock");
      assert.equal(key.code, 0, key.stderr);
      assert.match(key.stderr, /strata: warning: .*expired at .*used anyway/);
    } finally {
      await repo.close();
    }
  });
});
