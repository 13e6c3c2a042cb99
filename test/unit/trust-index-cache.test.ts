import assert from "node:assert/strict";
import { copyFile, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { loadPackagesIndex } from "../../src/debian/packages-index.js";
import { fetchRelease } from "../../src/debian/release.js";
import { startFakeRepo } from "../helpers/fake-repo.js";

/** The cache of Packages indexes trusts a file only for the signed sha256 it was checked against. */

const NOW = new Date("2026-11-25T12:00:00Z");
const PACKAGES = "/dists/testing/main/binary-amd64/Packages.gz";

describe("a cached index is used only with its own name table", { timeout: 120_000 }, () => {
  test("a name table of another index put beside a cached index makes strata fetch the index again", async () => {
    const cacheRoot = await mkdtemp(join(tmpdir(), "strata-trust-index-cache-"));
    const ctx = { cacheRoot, now: NOW };
    const [mine, other] = await Promise.all([
      startFakeRepo({ packages: [{ name: "app", version: "1.0" }] }),
      startFakeRepo({ packages: [{ name: "zzz-other-package", version: "9.9" }] }),
    ]);
    try {
      const source = (repo: { url: string; keyring: string }) => ({
        url: repo.url,
        suites: ["testing"],
        components: ["main"],
        keyring: repo.keyring,
      });
      const release = await fetchRelease(source(mine), "testing", ctx);
      const otherRelease = await fetchRelease(source(other), "testing", ctx);
      await loadPackagesIndex(release, "main", "amd64", ctx);
      await loadPackagesIndex(otherRelease, "main", "amd64", ctx);
      const dirOf = (r: typeof release) =>
        join(cacheRoot, "indexes", r.files.get("main/binary-amd64/Packages")!.sha256);
      await copyFile(join(dirOf(otherRelease), "names"), join(dirOf(release), "names"));

      const index = await loadPackagesIndex(release, "main", "amd64", ctx);
      assert.deepEqual(index.names(), ["app"]);
      assert.equal(index.byName("app")[0].version, "1.0");
      assert.equal(mine.hits.get(PACKAGES), 2, "fetched again");
    } finally {
      await Promise.all([mine.close(), other.close()]);
    }
  });
});
