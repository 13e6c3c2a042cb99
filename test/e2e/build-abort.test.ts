import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { runStrata } from "../helpers/cli.js";
import { fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";

const SLOW_MS = 3000;

describe("a failed download ends the build (starts an HTTP server; runs the built CLI)", () => {
  it("a .deb the mirror lacks fails the build while another is still downloading, and the process exits", {
    timeout: 60_000,
  }, async () => {
    const slowPath = "/pool/main/s/slow/slow_1.0_amd64.deb";
    const brokenPath = "/pool/main/b/broken/broken_1.0_amd64.deb";
    const repo = await startFakeRepo({
      packages: [
        { name: "slow", version: "1.0" },
        { name: "broken", version: "1.0" },
      ],
      delay: new Map([[slowPath, SLOW_MS]]),
      // Listed in the signed index, but 404 (a mirror mid-sync): the lock itself stays valid.
      missing: new Set([brokenPath]),
    });
    try {
      const dir = await mkdtemp(join(tmpdir(), "strata-abort-"));
      const cache = join(dir, "cache");
      await writeFile(join(dir, "strata.yaml"), fakeRepoSpec(repo, ["slow", "broken"]));
      const locked = await runStrata(["--cache-dir", cache, "lock"], { cwd: dir });
      assert.equal(locked.code, 0, locked.stderr);
      const started = Date.now();
      const built = await runStrata(["--cache-dir", cache, "build", "-o", join(dir, "out")], { cwd: dir });
      const elapsed = Date.now() - started;
      assert.equal(built.code, 1, built.stderr);
      assert.match(built.stderr, /^strata: error: .*broken_1\.0_amd64\.deb: HTTP 404/m);
      assert.doesNotMatch(built.stderr, /internal error|\n\s+at /);
      assert.equal(repo.hits.get(slowPath), 1, "the slow .deb was being downloaded");
      // The process ends once the slow download is over: no worker was left running.
      assert.ok(elapsed < SLOW_MS + 15_000, `exited after ${elapsed} ms`);
    } finally {
      await repo.close();
    }
  });
});
