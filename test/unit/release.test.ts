import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { loadPackagesIndex } from "../../src/debian/packages-index.js";
import { type FetchContext, fetchRelease } from "../../src/debian/release.js";
import type { RepositorySource } from "../../src/debian/sources.js";
import { isStrataError } from "../../src/util/errors.js";
import { type FakeRepo, type FakeRepoOptions, startFakeRepo } from "../helpers/fake-repo.js";

const PACKAGES = [{ name: "app", version: "1.0" }];
const NOW = new Date("2026-11-25T12:00:00Z");
const INDEX = "/dists/testing/main/binary-amd64";

async function withRepo(opts: Partial<FakeRepoOptions>, body: (repo: FakeRepo) => Promise<void>) {
  const repo = await startFakeRepo({ packages: PACKAGES, ...opts });
  try {
    await body(repo);
  } finally {
    await repo.close();
  }
}

function sourceOf(repo: FakeRepo, extra: Partial<RepositorySource> = {}): RepositorySource {
  return { url: repo.url, suites: ["testing"], components: ["main"], keyring: repo.keyring, ...extra };
}

async function context(extra: Partial<FetchContext> = {}): Promise<FetchContext> {
  return { cacheRoot: await mkdtemp(join(tmpdir(), "strata-release-")), now: NOW, ...extra };
}

describe("InRelease dates: no replay, no downgrade, nothing from the future", () => {
  test("an older, validly signed InRelease served after a newer one is refused", () =>
    withRepo({ date: new Date("2026-11-24T00:00:00Z") }, async (repo) => {
      const ctx = await context();
      await fetchRelease(sourceOf(repo), "testing", ctx);
      await repo.republish(new Date("2026-11-01T00:00:00Z"));
      await assert.rejects(
        fetchRelease(sourceOf(repo), "testing", ctx),
        (err) =>
          isStrataError(err, "RELEASE_DATE") &&
          /older than Tue, 24 Nov 2026 00:00:00 GMT seen before/.test(err.message) &&
          /--allow-downgrade/.test(err.hint ?? ""),
      );
      // Refused means not remembered: the newer release is still the baseline.
      await assert.rejects(fetchRelease(sourceOf(repo), "testing", ctx), (err) =>
        isStrataError(err, "RELEASE_DATE"),
      );
    }));

  test("allowDowngrade accepts the older release on purpose", () =>
    withRepo({ date: new Date("2026-11-24T00:00:00Z") }, async (repo) => {
      const ctx = await context();
      await fetchRelease(sourceOf(repo), "testing", ctx);
      await repo.republish(new Date("2026-11-01T00:00:00Z"));
      const release = await fetchRelease(sourceOf(repo), "testing", { ...ctx, allowDowngrade: true });
      assert.equal(release.date, "Sun, 01 Nov 2026 00:00:00 GMT");
    }));

  for (const [what, seen] of [
    ["a newer release", "2026-11-20T00:00:00Z"],
    ["a release of the same Date", "2026-11-24T00:00:00Z"],
  ]) {
    test(`${what} replaces the one seen before`, () =>
      withRepo({ date: new Date(seen) }, async (repo) => {
        const ctx = await context();
        await fetchRelease(sourceOf(repo), "testing", ctx);
        await repo.republish(new Date("2026-11-24T00:00:00Z"));
        assert.equal(
          (await fetchRelease(sourceOf(repo), "testing", ctx)).date,
          "Tue, 24 Nov 2026 00:00:00 GMT",
        );
      }));
  }

  test("a Date beyond ten minutes in the future is refused, within them accepted", () =>
    withRepo({ date: new Date(NOW.getTime() + 11 * 60_000) }, async (repo) => {
      await assert.rejects(
        fetchRelease(sourceOf(repo), "testing", await context()),
        (err) => isStrataError(err, "RELEASE_DATE") && /in the future/.test(err.message),
      );
      await repo.republish(new Date(NOW.getTime() + 9 * 60_000));
      await fetchRelease(sourceOf(repo), "testing", await context());
    }));
});

describe("Valid-Until for snapshots and internal mirrors", () => {
  const expired = { validUntil: new Date("2026-01-01T00:00:00Z"), date: new Date("2025-12-01T00:00:00Z") };

  test("an expired Valid-Until is refused by default", () =>
    withRepo(expired, async (repo) => {
      await assert.rejects(
        fetchRelease(sourceOf(repo), "testing", await context()),
        (err) => isStrataError(err, "RELEASE_EXPIRED") && /check-valid-until: false/.test(err.hint ?? ""),
      );
    }));

  test("check-valid-until: false on the repository accepts it, with a warning", () =>
    withRepo(expired, async (repo) => {
      const warnings: string[] = [];
      const ctx = await context({ warn: (m) => warnings.push(m) });
      await fetchRelease(sourceOf(repo, { checkValidUntil: false }), "testing", ctx);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0], /expired at .*Valid-Until.*used anyway/);
    }));

  test("the --no-check-valid-until option does the same for every repository", () =>
    withRepo(expired, async (repo) => {
      const warnings: string[] = [];
      const ctx = await context({ checkValidUntil: false, warn: (m) => warnings.push(m) });
      await fetchRelease(sourceOf(repo), "testing", ctx);
      assert.equal(warnings.length, 1);
    }));
});

describe("Packages indexes on a mirror caught mid-sync", () => {
  test("a by-hash path that answers 404 falls back to the plain path", () =>
    withRepo({ byHash: true }, async (repo) => {
      const ctx = await context();
      const release = await fetchRelease(sourceOf(repo), "testing", ctx);
      const gz = release.files.get("main/binary-amd64/Packages.gz")!;
      const byHash = `${INDEX}/by-hash/SHA256/${gz.sha256}`;
      await repo.close();
      const holed = await startFakeRepo({ packages: PACKAGES, byHash: true, missing: new Set([byHash]) });
      try {
        const moved = { ...release, source: sourceOf(holed) };
        const index = await loadPackagesIndex(moved, "main", "amd64", ctx);
        assert.equal(index.byName("app")[0].version, "1.0");
        assert.equal(holed.hits.get(byHash), 1);
        assert.equal(holed.hits.get(`${INDEX}/Packages.gz`), 1);
      } finally {
        await holed.close();
      }
    }));

  test("by-hash is used when it answers", () =>
    withRepo({ byHash: true }, async (repo) => {
      const ctx = await context();
      const release = await fetchRelease(sourceOf(repo), "testing", ctx);
      await loadPackagesIndex(release, "main", "amd64", ctx);
      const gz = release.files.get("main/binary-amd64/Packages.gz")!;
      assert.equal(repo.hits.get(`${INDEX}/by-hash/SHA256/${gz.sha256}`), 1);
      assert.equal(repo.hits.get(`${INDEX}/Packages.gz`), undefined);
    }));

  test("a compression that answers 404 falls back to the next one the InRelease lists", () =>
    withRepo({ missing: new Set([`${INDEX}/Packages.gz`]) }, async (repo) => {
      const ctx = await context();
      const release = await fetchRelease(sourceOf(repo), "testing", ctx);
      const index = await loadPackagesIndex(release, "main", "amd64", ctx);
      assert.equal(index.byName("app")[0].version, "1.0");
      assert.equal(repo.hits.get(`${INDEX}/Packages.gz`), 1);
      assert.equal(repo.hits.get(`${INDEX}/Packages`), 1);
    }));

  test("when every listed variant is missing the error says the mirror may be mid-sync", () =>
    withRepo({ missing: new Set([`${INDEX}/Packages.gz`, `${INDEX}/Packages`]) }, async (repo) => {
      const ctx = await context();
      const release = await fetchRelease(sourceOf(repo), "testing", ctx);
      await assert.rejects(
        loadPackagesIndex(release, "main", "amd64", ctx),
        (err) => isStrataError(err, "HTTP") && /mid-sync/.test(err.hint ?? ""),
      );
    }));
});

describe("Cached Packages indexes: hashed once, re-hashed when anything changed", () => {
  const cached = (ctx: FetchContext, sha256: string) => join(ctx.cacheRoot!, "indexes", sha256);

  /** Rewrites "Version: 1.0" in place (same size), then puts mtime back as a careful forger would. */
  async function forgeVersion(path: string): Promise<void> {
    const before = await stat(path);
    const text = await readFile(path, "utf8");
    await writeFile(path, text.replace("Version: 1.0", "Version: 6.6"));
    await utimes(path, before.atime, before.mtime);
  }

  test("a warm load reads the cache without fetching again, vouched by verified.json", () =>
    withRepo({}, async (repo) => {
      const ctx = await context();
      const release = await fetchRelease(sourceOf(repo), "testing", ctx);
      await loadPackagesIndex(release, "main", "amd64", ctx);
      const index = await loadPackagesIndex(release, "main", "amd64", ctx);
      assert.equal(index.byName("app")[0].version, "1.0");
      assert.equal(repo.hits.get(`${INDEX}/Packages.gz`), 1);
      const plain = release.files.get("main/binary-amd64/Packages")!;
      const stamp = JSON.parse(await readFile(join(cached(ctx, plain.sha256), "verified.json"), "utf8"));
      assert.equal(stamp.packagesSha256, plain.sha256);
    }));

  test("a Packages file edited in place, its mtime restored, is detected and fetched again", () =>
    withRepo({}, async (repo) => {
      const ctx = await context();
      const release = await fetchRelease(sourceOf(repo), "testing", ctx);
      await loadPackagesIndex(release, "main", "amd64", ctx);
      const plain = release.files.get("main/binary-amd64/Packages")!;
      await forgeVersion(join(cached(ctx, plain.sha256), "Packages"));
      const index = await loadPackagesIndex(release, "main", "amd64", ctx);
      assert.equal(index.byName("app")[0].version, "1.0");
      assert.equal(repo.hits.get(`${INDEX}/Packages.gz`), 2);
    }));

  test("a warm load reads stanzas from the cached text by span; a write after it was verified is refused", () =>
    withRepo({}, async (repo) => {
      const ctx = await context();
      const release = await fetchRelease(sourceOf(repo), "testing", ctx);
      await loadPackagesIndex(release, "main", "amd64", ctx);
      const index = await loadPackagesIndex(release, "main", "amd64", ctx);
      const plain = release.files.get("main/binary-amd64/Packages")!;
      // Written after the load vouched for it, before the resolver asks: the read refuses it.
      await forgeVersion(join(cached(ctx, plain.sha256), "Packages"));
      assert.throws(
        () => index.byName("app"),
        (err) => isStrataError(err, "INDEX_INVALID") && /changed since it was verified/.test(err.message),
      );
    }));

  test("a garbage, oversized or stale verified.json is harmless: the text is hashed", () =>
    withRepo({}, async (repo) => {
      const ctx = await context();
      const release = await fetchRelease(sourceOf(repo), "testing", ctx);
      await loadPackagesIndex(release, "main", "amd64", ctx);
      const plain = release.files.get("main/binary-amd64/Packages")!;
      const dir = cached(ctx, plain.sha256);
      const stale = await readFile(join(dir, "verified.json"), "utf8");
      for (const [i, sidecar] of ["{not json", `${" ".repeat(8192)}{}`, stale].entries()) {
        await forgeVersion(join(dir, "Packages"));
        await writeFile(join(dir, "verified.json"), sidecar);
        const index = await loadPackagesIndex(release, "main", "amd64", ctx);
        assert.equal(index.byName("app")[0].version, "1.0");
        assert.equal(repo.hits.get(`${INDEX}/Packages.gz`), i + 2);
      }
    }));
});

describe("a keyring named from outside (a lock, an image's record) is a bounded regular file", () => {
  test("/dev/zero, a FIFO and a directory are refused at once with SIGNATURE_INVALID; the real keyring still verifies", () =>
    withRepo({}, async (repo) => {
      const dir = await mkdtemp(join(tmpdir(), "strata-keyring-"));
      const fifo = join(dir, "fifo");
      execFileSync("mkfifo", [fifo]);
      for (const keyring of ["/dev/zero", fifo, dir]) {
        await assert.rejects(
          fetchRelease(sourceOf(repo, { keyring }), "testing", await context()),
          (err) => isStrataError(err, "SIGNATURE_INVALID") && /cannot read keyring/.test(err.message),
          keyring,
        );
      }
      const release = await fetchRelease(sourceOf(repo), "testing", await context());
      assert.ok(release.date);
    }));
});

describe("a Packages index is what the signed InRelease says, compressed and plain", () => {
  for (const [alter, message] of [
    ["recompressed", /Packages\.gz does not match the signed InRelease/],
    ["altered", /\(decompressed\) does not match the signed InRelease/],
  ] as const) {
    test(`a validly compressed index that is not the signed one (${alter}) is refused, and nothing is cached`, () =>
      withRepo({ alterPackages: alter }, async (repo) => {
        const ctx = await context();
        const release = await fetchRelease(sourceOf(repo), "testing", ctx);
        await assert.rejects(
          loadPackagesIndex(release, "main", "amd64", ctx),
          (err) =>
            (isStrataError(err, "HASH_MISMATCH") || isStrataError(err, "SIZE_MISMATCH")) &&
            message.test(err.message),
        );
        await assert.rejects(
          loadPackagesIndex(release, "main", "amd64", ctx),
          message,
          "refused again: not cached",
        );
      }));
  }
});
