import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fetchDebs } from "../../src/debian/fetch-debs.js";
import { loadPackagesIndex } from "../../src/debian/packages-index.js";
import { fetchRelease } from "../../src/debian/release.js";
import type { RepositorySource } from "../../src/debian/sources.js";
import type { LockedPackage } from "../../src/lock/lock.js";
import { ContentStore } from "../../src/util/cas.js";
import { isStrataError } from "../../src/util/errors.js";
import { boundedFetch } from "../../src/util/http.js";
import { startFakeRepo } from "../helpers/fake-repo.js";
import { endlessBody, serve, shortHttpTimeout } from "../helpers/loopback.js";

const tempDir = (label: string) => mkdtemp(join(tmpdir(), `strata-${label}-`));

function source(url: string, keyring = "/nonexistent"): RepositorySource {
  return { url, suites: ["testing"], components: ["main"], keyring };
}

function lockedDeb(over: Partial<LockedPackage>): LockedPackage {
  return {
    name: "victim",
    version: "1",
    arch: "amd64",
    architecture: "amd64",
    source: "victim",
    sourceVersion: "1",
    priority: "optional",
    sha256: "0".repeat(64),
    size: 1,
    filename: "pool/main/v/victim/victim_1_amd64.deb",
    repository: "http://127.0.0.1:9",
    suite: "testing",
    component: "main",
    reason: "requested",
    requiredBy: [],
    ...over,
  };
}

describe("digests from outside never name a path", () => {
  test("a cache key that is not 64 hex characters is refused and the file it would name is left alone", async () => {
    const root = await tempDir("cas-escape");
    await mkdir(join(root, "victim"));
    await writeFile(join(root, "victim", "important.txt"), "precious");
    const store = new ContentStore(join(root, "a", "store"));
    const key = "../../../victim/important.txt";
    await assert.rejects(store.has(key, { size: 1 }), (err) => isStrataError(err, "DIGEST_INVALID"));
    await assert.rejects(store.putVerified(Readable.from([Buffer.from("x")]), key), (err) =>
      isStrataError(err, "DIGEST_INVALID"),
    );
    assert.throws(
      () => store.open("ABCDEF".repeat(11).slice(0, 64)),
      (err) => isStrataError(err, "DIGEST_INVALID"),
    );
    assert.equal(await readFile(join(root, "victim", "important.txt"), "utf8"), "precious");
  });

  test("a hand-edited lock whose sha256 is a path deletes nothing and downloads nothing", async () => {
    const root = await tempDir("lock-escape");
    await mkdir(join(root, "victim"));
    await writeFile(join(root, "victim", "important.txt"), "precious");
    let requests = 0;
    const server = await serve((_req, res) => {
      requests++;
      res.end("x");
    });
    try {
      // <cache>/debs/sha256/../../../../victim/important.txt is <root>/victim/important.txt.
      const pkg = lockedDeb({ sha256: "../../../../victim/important.txt", repository: server.url });
      await assert.rejects(fetchDebs([pkg], { cacheRoot: join(root, "c", "cache") }), (err) =>
        isStrataError(err, "DIGEST_INVALID"),
      );
      assert.equal(await readFile(join(root, "victim", "important.txt"), "utf8"), "precious");
      assert.equal(requests, 0);
    } finally {
      await server.close();
    }
  });

  test("a signed Packages stanza whose SHA256 is a path is refused when the package is read", async () => {
    const repo = await startFakeRepo({
      packages: [{ name: "evil", version: "1", sha256: "../../../../victim/important.txt" }],
    });
    try {
      const cacheRoot = await tempDir("index-escape");
      const release = await fetchRelease(source(repo.url, repo.keyring), "testing", { cacheRoot });
      const index = await loadPackagesIndex(release, "main", "amd64", { cacheRoot });
      assert.throws(
        () => index.byName("evil"),
        (err) => isStrataError(err, "INDEX_INVALID") && /SHA256/.test(err.message),
      );
    } finally {
      await repo.close();
    }
  });
});

describe("every network read is bounded in time and size (loopback servers)", () => {
  shortHttpTimeout("0.3");

  test("a silent mirror is a NETWORK error within seconds", async () => {
    const server = await serve(() => {});
    try {
      const started = Date.now();
      await assert.rejects(
        fetchRelease(source(server.url), "testing", { cacheRoot: await tempDir("silent") }),
        (err) => isStrataError(err, "NETWORK") && /no answer within 0.3 s/.test(err.message),
      );
      assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
    } finally {
      await server.close();
    }
  });

  test("a mirror that trickles one byte at a time is cut by the idle timeout", async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { "content-length": "1000" });
      const timer = setInterval(() => res.write("x"), 1000);
      res.on("close", () => clearInterval(timer));
      res.write("x");
    });
    try {
      const pkg = lockedDeb({ size: 1000, repository: server.url });
      const cacheRoot = await tempDir("trickle");
      const started = Date.now();
      await assert.rejects(
        fetchDebs([pkg], { cacheRoot }),
        (err) => isStrataError(err, "NETWORK") && /no data for 0.3 s/.test(err.message),
      );
      assert.ok(Date.now() - started < 8000, `took ${Date.now() - started} ms`);
      assert.deepEqual(await readdir(join(cacheRoot, "debs", "sha256")).catch(() => []), []);
    } finally {
      await server.close();
    }
  });

  test("an endless .deb is cut at its locked size, is not asked for again, and leaves no temp file", async () => {
    const endless = endlessBody();
    const server = await serve(endless.handler);
    try {
      const size = 1 << 20;
      const cacheRoot = await tempDir("endless-deb");
      await assert.rejects(
        fetchDebs([lockedDeb({ size, repository: server.url })], { cacheRoot }),
        (err) =>
          isStrataError(err, "SIZE_MISMATCH") && /more than the expected 1048576 bytes/.test(err.message),
      );
      // Too long is not a dropped connection: no retry. The socket buffers held the rest.
      assert.equal(endless.requests(), 1);
      assert.ok(endless.sent() < size + (16 << 20), `server sent ${endless.sent()} bytes`);
      assert.deepEqual(await readdir(join(cacheRoot, "debs", "sha256")), []);
    } finally {
      await server.close();
    }
  });

  test("a chunked .deb whose first chunk is already longer than its locked size is a clean error, not a crash", async () => {
    const endless = endlessBody();
    const server = await serve(endless.handler);
    try {
      await assert.rejects(
        fetchDebs([lockedDeb({ size: 1000, repository: server.url })], { cacheRoot: await tempDir("chunk") }),
        (err) => isStrataError(err, "SIZE_MISMATCH") && /more than the expected 1000 bytes/.test(err.message),
      );
      // An 'error' event nobody listened to would have ended this process before the next test.
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      await server.close();
    }
  });

  test("a .deb whose announced length exceeds its locked size is refused before reading it", async () => {
    const endless = endlessBody({ "content-length": String(5 * 2 ** 30) });
    const server = await serve(endless.handler);
    try {
      await assert.rejects(
        fetchDebs([lockedDeb({ size: 1000, repository: server.url })], {
          cacheRoot: await tempDir("announced"),
        }),
        (err) => isStrataError(err, "SIZE_MISMATCH") && /5368709120 announced/.test(err.message),
      );
    } finally {
      await server.close();
    }
  });

  test("a Packages index that stalls half way is a NETWORK error, not a hang", async () => {
    const repo = await startFakeRepo({ packages: [{ name: "app", version: "1" }] });
    // In front of the repository: everything passes, but Packages.gz stops after its first bytes.
    const stalling = await serve(async (req, res) => {
      const upstream = await fetch(repo.url + req.url);
      const body = Buffer.from(await upstream.arrayBuffer());
      res.writeHead(upstream.status, { "content-length": String(body.length) });
      if (req.url?.endsWith("Packages.gz")) res.write(body.subarray(0, 10));
      else res.end(body);
    });
    try {
      const ctx = { cacheRoot: await tempDir("stall") };
      const release = await fetchRelease(source(stalling.url, repo.keyring), "testing", ctx);
      await assert.rejects(
        loadPackagesIndex(release, "main", "amd64", ctx),
        (err) => isStrataError(err, "NETWORK") && /Packages.gz: no data for 0.3 s/.test(err.message),
      );
    } finally {
      await stalling.close();
      await repo.close();
    }
  });

  test("an upload that keeps moving is not cut by the idle timeout, however long it takes", async () => {
    const server = await serve(async (req, res) => {
      let received = 0;
      for await (const chunk of req) received += (chunk as Buffer).length;
      res.end(String(received));
    });
    async function* slowly() {
      for (let i = 0; i < 6; i++) {
        await sleep(150);
        yield Buffer.alloc(1000);
      }
    }
    try {
      const res = await boundedFetch(
        server.url,
        { method: "PUT", body: Readable.from(slowly()) as never, duplex: "half" },
        { maxBytes: 100 },
      );
      assert.equal(await res.text(), "6000");
    } finally {
      await server.close();
    }
  });

  test("an endless InRelease is cut at 16 MiB", async () => {
    const endless = endlessBody();
    const server = await serve(endless.handler);
    try {
      const before = process.memoryUsage().rss;
      await assert.rejects(
        fetchRelease(source(server.url), "testing", { cacheRoot: await tempDir("endless-release") }),
        (err) =>
          isStrataError(err, "SIZE_MISMATCH") && /more than the expected 16777216 bytes/.test(err.message),
      );
      assert.ok(endless.sent() < 40 << 20, `server sent ${endless.sent()} bytes`);
      const grown = process.memoryUsage().rss - before;
      assert.ok(grown < 200 << 20, `rss grew by ${grown} bytes`);
    } finally {
      await server.close();
    }
  });
});
