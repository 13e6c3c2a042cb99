import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { buildNameTable } from "../../src/debian/name-table.js";
import { loadPackagesIndex, PackagesIndex } from "../../src/debian/packages-index.js";
import { fetchRelease, type VerifiedRelease } from "../../src/debian/release.js";
import { isStrataError } from "../../src/util/errors.js";
import { type FakeRepo, type FakeRepoOptions, startFakeRepo } from "../helpers/fake-repo.js";
import { serve } from "../helpers/loopback.js";

/** The cache of Packages indexes trusts a file only for the signed sha256 it was checked against. */

const NOW = new Date("2026-11-25T12:00:00Z");
const INDEX = "/dists/testing/main/binary-amd64";
const PACKAGES_GZ = `${INDEX}/Packages.gz`;

const sourceOf = (repo: { url: string; keyring: string }) => ({
  url: repo.url,
  suites: ["testing"],
  components: ["main"],
  keyring: repo.keyring,
});

/** `body` with the repository's index loaded once into a fresh cache, and that index's cache folder. */
async function withCachedIndex(
  opts: Partial<FakeRepoOptions>,
  body: (
    repo: FakeRepo,
    release: VerifiedRelease,
    ctx: { cacheRoot: string; now: Date },
    dir: string,
  ) => Promise<void>,
) {
  const repo = await startFakeRepo({ packages: [{ name: "app", version: "1.0" }], ...opts });
  try {
    const ctx = { cacheRoot: await mkdtemp(join(tmpdir(), "strata-trust-index-cache-")), now: NOW };
    const release = await fetchRelease(sourceOf(repo), "testing", ctx);
    await loadPackagesIndex(release, "main", "amd64", ctx);
    const dir = join(ctx.cacheRoot, "indexes", release.files.get("main/binary-amd64/Packages")!.sha256);
    await body(repo, release, ctx, dir);
  } finally {
    await repo.close();
  }
}

/** Rewrites the cached text in place, same size, its mtime put back to the nanosecond (only ctime moves). */
async function forge(dir: string): Promise<void> {
  const path = join(dir, "Packages");
  const ref = join(dir, "mtime-ref");
  execFileSync("cp", ["--preserve=timestamps", path, ref]);
  await writeFile(path, (await readFile(path, "utf8")).replace("Version: 1.0", "Version: 6.6"));
  execFileSync("touch", ["-m", "-r", ref, path]);
  await rm(ref);
}

/** What verified.json records for the files as they are now, vouching for `packagesSha256`. */
async function stampNow(dir: string, packagesSha256: string): Promise<string> {
  const of = async (name: string) => {
    const st = await stat(join(dir, name), { bigint: true });
    return { size: `${st.size}`, ino: `${st.ino}`, mtimeNs: `${st.mtimeNs}`, ctimeNs: `${st.ctimeNs}` };
  };
  return JSON.stringify({
    packagesSha256,
    files: { Packages: await of("Packages"), names: await of("names") },
  });
}

describe("what vouches for a cached index", { timeout: 120_000 }, () => {
  test("a Packages file rewritten in place with its mtime restored to the nanosecond is detected by its ctime", () =>
    withCachedIndex({}, async (repo, release, ctx, dir) => {
      await forge(dir);
      const index = await loadPackagesIndex(release, "main", "amd64", ctx);
      assert.equal(index.byName("app")[0].version, "1.0");
      assert.equal(repo.hits.get(PACKAGES_GZ), 2);
    }));

  test("a verified.json that vouches for another index is not believed", () =>
    withCachedIndex({}, async (repo, release, ctx, dir) => {
      await forge(dir);
      await writeFile(join(dir, "verified.json"), await stampNow(dir, "0".repeat(64)));
      assert.equal((await loadPackagesIndex(release, "main", "amd64", ctx)).byName("app")[0].version, "1.0");
      assert.equal(repo.hits.get(PACKAGES_GZ), 2);
    }));

  test("a verified.json longer than 4 KiB is not read, even when it says the right things", () =>
    withCachedIndex({}, async (repo, release, ctx, dir) => {
      await forge(dir);
      const sha = release.files.get("main/binary-amd64/Packages")!.sha256;
      await writeFile(join(dir, "verified.json"), `${" ".repeat(4096)}${await stampNow(dir, sha)}`);
      assert.equal((await loadPackagesIndex(release, "main", "amd64", ctx)).byName("app")[0].version, "1.0");
      assert.equal(repo.hits.get(PACKAGES_GZ), 2);
    }));

  test("without verified.json an intact cached text is hashed and used, not fetched again", () =>
    withCachedIndex({}, async (repo, release, ctx, dir) => {
      await rm(join(dir, "verified.json"));
      assert.equal((await loadPackagesIndex(release, "main", "amd64", ctx)).byName("app")[0].version, "1.0");
      assert.equal(repo.hits.get(PACKAGES_GZ), 1);
    }));

  test("a name table of another index put beside a cached index makes strata fetch the index again", () =>
    withCachedIndex({}, async (repo, release, ctx, dir) => {
      const other = await startFakeRepo({ packages: [{ name: "zzz-other-package", version: "9.9" }] });
      try {
        const otherRelease = await fetchRelease(sourceOf(other), "testing", ctx);
        await loadPackagesIndex(otherRelease, "main", "amd64", ctx);
        const otherDir = join(
          ctx.cacheRoot,
          "indexes",
          otherRelease.files.get("main/binary-amd64/Packages")!.sha256,
        );
        await copyFile(join(otherDir, "names"), join(dir, "names"));
      } finally {
        await other.close();
      }
      const index = await loadPackagesIndex(release, "main", "amd64", ctx);
      assert.deepEqual(index.names(), ["app"]);
      assert.equal(index.byName("app")[0].version, "1.0");
      assert.equal(repo.hits.get(PACKAGES_GZ), 2, "fetched again");
    }));
});

describe("what a Packages index download may be", { timeout: 120_000 }, () => {
  test("when no listed variant can be fetched the error names each URL tried", async () => {
    const repo = await startFakeRepo({
      packages: [{ name: "app", version: "1.0" }],
      missing: new Set([PACKAGES_GZ, `${INDEX}/Packages`]),
    });
    try {
      const ctx = { cacheRoot: await mkdtemp(join(tmpdir(), "strata-trust-index-cache-")), now: NOW };
      const release = await fetchRelease(sourceOf(repo), "testing", ctx);
      await assert.rejects(
        loadPackagesIndex(release, "main", "amd64", ctx),
        (err) =>
          isStrataError(err, "HTTP") &&
          err.message ===
            `${repo.url}${INDEX}/Packages: no variant the InRelease lists could be fetched (404: ${repo.url}${PACKAGES_GZ}, ${repo.url}${INDEX}/Packages)` &&
          err.hint === "the mirror may be mid-sync; try again later or use another mirror",
      );
    } finally {
      await repo.close();
    }
  });

  test("a compressed index longer than the InRelease says is refused at its announced length", () =>
    withCachedIndex({}, async (repo, release, ctx) => {
      const gz = Buffer.from(await (await fetch(`${repo.url}${PACKAGES_GZ}`)).arrayBuffer());
      const longer = Buffer.concat([gz, Buffer.alloc(16)]);
      const mirror = await serve((_req, res) =>
        res.writeHead(200, { "content-length": longer.length }).end(longer),
      );
      try {
        const url = `${mirror.url}${PACKAGES_GZ}`;
        const moved = { ...release, source: { ...release.source, url: mirror.url } };
        await assert.rejects(
          loadPackagesIndex(moved, "main", "amd64", { ...ctx, cacheRoot: `${ctx.cacheRoot}-moved` }),
          (err) =>
            isStrataError(err, "SIZE_MISMATCH") &&
            err.message === `${url}: more than the expected ${gz.length} bytes (${longer.length} announced)`,
        );
      } finally {
        await mirror.close();
      }
    }));
});

describe("names from an index are quoted, bounded, in messages", { timeout: 30_000 }, () => {
  const origin = { url: "http://mirror.invalid/debian", suite: "testing", component: "main", arch: "amd64" };
  const HEX = "a".repeat(64);
  function recordOf(name: string, filename: string) {
    const text = Buffer.from(
      `Package: ${name}\nVersion: 1\nFilename: ${filename}\nSize: 1\nSHA256: ${HEX}\n`,
    );
    return () => new PackagesIndex(origin, text, buildNameTable(text, HEX)).byName(name);
  }

  test("a long package name is cut at 80 characters of its quoted form, a long Filename at 120", () => {
    const name = `a${"b".repeat(200)}`;
    const filename = `../${"c".repeat(300)}`;
    assert.throws(
      recordOf(name, filename),
      (err) =>
        isStrataError(err, "INDEX_INVALID") &&
        err.message ===
          `http://mirror.invalid/debian testing/main: package ${JSON.stringify(name).slice(0, 80)}: Filename ${JSON.stringify(filename).slice(0, 120)} is not a pool path`,
    );
  });
});
