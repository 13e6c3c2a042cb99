import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runStrata } from "../helpers/cli.js";
import { craftDeb, craftedControl, tempDir } from "../helpers/debs.js";
import { fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";

describe("the lock against the .debs it names (starts an HTTP server; runs the built CLI)", () => {
  it("a lock edited to another version is refused on a warm build too, where the layer comes from the cache", {
    timeout: 60_000,
  }, async () => {
    const files = [
      { name: "./usr/", type: "directory" as const },
      { name: "./usr/hello", body: "hi\n" },
    ];
    const deb = await craftDeb(
      await tempDir("lockdeb"),
      "hello",
      files,
      craftedControl("hello", "1.0", "amd64"),
    );
    const repo = await startFakeRepo({
      packages: [{ name: "hello", version: "1.0", body: await readFile(deb.path) }],
    });
    try {
      const dir = await mkdtemp(join(tmpdir(), "strata-lockdeb-"));
      const cache = join(dir, "cache");
      await writeFile(join(dir, "strata.yaml"), fakeRepoSpec(repo, ["hello"]));
      const build = () =>
        runStrata(["--cache-dir", cache, "build", "--force", "-o", join(dir, "out")], { cwd: dir });
      assert.equal((await runStrata(["--cache-dir", cache, "lock"], { cwd: dir })).code, 0);
      const cold = await build();
      assert.equal(cold.code, 0, cold.stderr);

      const lockPath = join(dir, "strata.lock");
      await writeFile(
        lockPath,
        (await readFile(lockPath, "utf8")).replace('"version": "1.0"', '"version": "9.9"'),
      );
      // With the signed indexes at hand the lock's re-verification refuses the edit before any
      // layer is looked at; without them (a cache that kept only layers), the layer check must.
      const first = await build();
      assert.equal(first.code, 1, first.stdout);
      assert.match(first.stderr, /packages\[0\] \(hello 9\.9\) is not in the signed index/);
      await rm(join(cache, "indexes"), { recursive: true, force: true });
      const warm = await build();
      assert.equal(warm.code, 1, warm.stdout);
      assert.match(
        warm.stderr,
        /^strata: error: the lock says hello 9\.9 amd64, but its \.deb is hello 1\.0 amd64$/m,
      );
    } finally {
      await repo.close();
    }
  });
});
