import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { type IncomingMessage, request, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import * as openpgp from "openpgp";
import { buildNameTable } from "../../src/debian/name-table.js";
import { cachedPackagesIndex, loadPackagesIndex, PackagesIndex } from "../../src/debian/packages-index.js";
import {
  cachedRelease,
  type FetchContext,
  fetchRelease,
  parseRelease,
  type VerifiedRelease,
} from "../../src/debian/release.js";
import type { RepositorySource } from "../../src/debian/sources.js";
import { isStrataError } from "../../src/util/errors.js";
import { type FakeRepo, type FakeRepoOptions, startFakeRepo } from "../helpers/fake-repo.js";
import { serve } from "../helpers/loopback.js";

/** The signed InRelease and the Packages indexes it vouches for: every check has its test here. */

const NOW = new Date("2026-11-25T12:00:00Z");
const HEX = "a".repeat(64);
const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

async function withRepo(opts: Partial<FakeRepoOptions>, body: (repo: FakeRepo) => Promise<void>) {
  const repo = await startFakeRepo({ packages: [{ name: "app", version: "1.0" }], ...opts });
  try {
    await body(repo);
  } finally {
    await repo.close();
  }
}

/** `body` with the fake repository's release fetched and verified into a fresh cache. */
function withRelease(
  opts: Partial<FakeRepoOptions>,
  body: (repo: FakeRepo, release: VerifiedRelease, ctx: FetchContext) => Promise<void>,
) {
  return withRepo(opts, async (repo) => {
    const ctx = await context();
    await body(repo, await fetchRelease(sourceOf(repo), "testing", ctx), ctx);
  });
}

/** `body` with a loopback server running `handler`, closed after it. */
async function withServer(
  handler: Parameters<typeof serve>[0],
  body: (server: { url: string }) => Promise<void>,
): Promise<void> {
  const server = await serve(handler);
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

function sourceOf(
  repo: { url: string; keyring: string },
  extra: Partial<RepositorySource> = {},
): RepositorySource {
  return { url: repo.url, suites: ["testing"], components: ["main"], keyring: repo.keyring, ...extra };
}

async function context(extra: Partial<FetchContext> = {}): Promise<FetchContext> {
  return { cacheRoot: await mkdtemp(join(tmpdir(), "strata-trust-release-")), now: NOW, ...extra };
}

/** GETs `url` from the fake repository as the test proxy does: status, headers, body. */
function upstream(url: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
    })
      .on("error", reject)
      .end();
  });
}

/**
 * A proxy in front of `repo` that serves every InRelease with an ETag and Last-Modified and answers
 * 304 when the request says it has them; it records the conditional headers it was sent.
 */
async function conditionalProxy(repo: FakeRepo) {
  const seen: { ifNoneMatch?: string; ifModifiedSince?: string }[] = [];
  const server = await serve(async (req, res) => {
    const got = await upstream(`${repo.url}${req.url}`);
    if (!req.url?.endsWith("/InRelease")) return res.writeHead(got.status).end(got.body);
    const etag = `"${sha256(got.body).slice(0, 16)}"`;
    const ifNoneMatch = req.headers["if-none-match"];
    const ifModifiedSince = req.headers["if-modified-since"];
    seen.push({ ifNoneMatch, ifModifiedSince });
    if (ifNoneMatch === etag) return res.writeHead(304).end();
    res.writeHead(200, { etag, "last-modified": "Tue, 24 Nov 2026 00:00:00 GMT" }).end(got.body);
  });
  return { ...server, seen };
}

/** `body` with the fake repository behind a conditionalProxy, and a source and cache for it. */
function withConditionalRepo(
  body: (
    repo: FakeRepo,
    proxy: Awaited<ReturnType<typeof conditionalProxy>>,
    source: RepositorySource,
    ctx: FetchContext,
  ) => Promise<void>,
) {
  return withRepo({}, async (repo) => {
    const proxy = await conditionalProxy(repo);
    try {
      await body(repo, proxy, sourceOf({ url: proxy.url, keyring: repo.keyring }), await context());
    } finally {
      await proxy.close();
    }
  });
}

describe("the InRelease must be there, signed by the keyring, and read once", { timeout: 120_000 }, () => {
  test("a suite without an InRelease is SIGNATURE_INVALID (no unsigned Release), naming the suite in the hint", () =>
    withRepo({}, async (repo) => {
      await assert.rejects(
        fetchRelease(sourceOf(repo), "stable", await context()),
        (err) =>
          isStrataError(err, "SIGNATURE_INVALID") &&
          err.message ===
            `${repo.url}/dists/stable/InRelease: no InRelease (HTTP 404); strata uses only signed InRelease files` &&
          err.hint === 'check the suite name "stable" and the repository URL',
      );
    }));

  test("another HTTP failure stays an HTTP error", async () => {
    await withServer(
      (_req, res) => res.writeHead(403).end("no"),
      async (broken) => {
        await assert.rejects(
          fetchRelease(sourceOf({ url: broken.url, keyring: "/nonexistent" }), "testing", await context()),
          (err) => isStrataError(err, "HTTP") && /\b403\b/.test(err.message),
        );
      },
    );
  });

  test("an empty InRelease is an HTTP error, before any keyring is read", async () => {
    await withServer(
      (_req, res) => res.writeHead(200, { "content-length": "0" }).end(),
      async (empty) => {
        await assert.rejects(
          fetchRelease(sourceOf({ url: empty.url, keyring: "/nonexistent" }), "testing", await context()),
          (err) =>
            isStrataError(err, "HTTP") &&
            err.message === `${empty.url}/dists/testing/InRelease: empty InRelease`,
        );
      },
    );
  });

  for (const [what, opts, why] of [
    ["signed by a key not in the keyring", { signWithStranger: true }, /signature check failed: /],
    ["altered after signing", { tamperInRelease: true }, /signature check failed: /],
    ["not signed at all", { unsigned: true }, /signature check failed: not a signed InRelease/],
  ] as const) {
    test(`an InRelease ${what} is SIGNATURE_INVALID, with a hint naming the keyring`, () =>
      withRepo(opts, async (repo) => {
        await assert.rejects(
          fetchRelease(sourceOf(repo), "testing", await context()),
          (err) =>
            isStrataError(err, "SIGNATURE_INVALID") &&
            why.test(err.message) &&
            err.message.startsWith(`${repo.url}/dists/testing/InRelease: `) &&
            err.hint ===
              `the file is not signed by a key in ${repo.keyring}; check the repository URL and keyring`,
        );
      }));
  }

  test("a keyring that is not a keyring is SIGNATURE_INVALID naming it; an armored .asc keyring verifies", () =>
    withRepo({}, async (repo) => {
      const dir = await mkdtemp(join(tmpdir(), "strata-trust-keyring-"));
      const garbage = join(dir, "garbage.gpg");
      await writeFile(garbage, "not a key");
      await assert.rejects(
        fetchRelease(sourceOf(repo, { keyring: garbage }), "testing", await context()),
        (err) =>
          isStrataError(err, "SIGNATURE_INVALID") &&
          err.message.includes(`signature check failed: cannot read keyring ${garbage}: `),
      );
      const binary = await openpgp.readKey({ binaryKey: await readFile(repo.keyring) });
      const armored = join(dir, "keyring.asc");
      await writeFile(armored, binary.armor());
      const release = await fetchRelease(sourceOf(repo, { keyring: armored }), "testing", await context());
      assert.ok(release.files.size > 0);
    }));

  test("a missing keyring says which package or setting provides one", () =>
    withRepo({}, async (repo) => {
      await assert.rejects(
        fetchRelease(sourceOf(repo, { keyring: "/nonexistent/keyring.gpg" }), "testing", await context()),
        (err) =>
          isStrataError(err, "SIGNATURE_INVALID") &&
          err.message.startsWith("cannot read keyring /nonexistent/keyring.gpg: ") &&
          err.hint === "install debian-archive-keyring or set `keyring:` for the repository in strata.yaml",
      );
    }));

  test("a verified InRelease is asked for again conditionally and a 304 reuses it; a new keyring verifies again", () =>
    withConditionalRepo(async (repo, proxy, source, ctx) => {
      const first = await fetchRelease(source, "testing", ctx);
      const second = await fetchRelease(source, "testing", ctx);
      assert.deepEqual(second, first);
      assert.deepEqual(proxy.seen, [
        { ifNoneMatch: undefined, ifModifiedSince: undefined },
        {
          ifNoneMatch: `"${sha256(await upstreamInRelease(repo)).slice(0, 16)}"`,
          ifModifiedSince: "Tue, 24 Nov 2026 00:00:00 GMT",
        },
      ]);
      // The same bytes under a keyring that does not hold the signer are not trusted from the cache.
      const stranger = await openpgp.generateKey({
        type: "ecc",
        userIDs: [{ name: "x" }],
        format: "binary",
      });
      const other = join(await mkdtemp(join(tmpdir(), "strata-trust-keyring-")), "other.gpg");
      await writeFile(other, stranger.publicKey);
      await assert.rejects(fetchRelease({ ...source, keyring: other }, "testing", ctx), (err) =>
        isStrataError(err, "SIGNATURE_INVALID"),
      );
    }));

  test("a cached InRelease that no longer matches its record is fetched afresh, not answered by a 304", () =>
    withConditionalRepo(async (_repo, proxy, source, ctx) => {
      const first = await fetchRelease(source, "testing", ctx);
      const url = `${proxy.url}/dists/testing/InRelease`;
      const cachedCopy = join(ctx.cacheRoot!, "releases", sha256(url).slice(0, 32), "InRelease");
      const bytes = await readFile(cachedCopy, "utf8");
      await writeFile(cachedCopy, bytes.replace("Origin: strata-test", "Origin: strata-evil"));
      assert.deepEqual(await fetchRelease(source, "testing", ctx), first);
      assert.equal(proxy.seen[1].ifNoneMatch, undefined, "asked unconditionally");
    }));

  test("cachedRelease gives the release verified for those InRelease bytes and that keyring only", () =>
    withRepo({}, async (repo) => {
      const ctx = await context();
      const source = sourceOf(repo);
      const release = await fetchRelease(source, "testing", ctx);
      assert.deepEqual(await cachedRelease(source, "testing", release.sha256, ctx), release);
      assert.equal(await cachedRelease(source, "testing", HEX, ctx), undefined);
      assert.equal(await cachedRelease(source, "other", release.sha256, ctx), undefined);
      assert.equal(
        await cachedRelease({ ...source, keyring: "/nonexistent" }, "testing", release.sha256, ctx),
        undefined,
      );
      const other = join(await mkdtemp(join(tmpdir(), "strata-trust-keyring-")), "other.gpg");
      await writeFile(other, "another keyring");
      assert.equal(
        await cachedRelease({ ...source, keyring: other }, "testing", release.sha256, ctx),
        undefined,
      );
    }));
});

async function upstreamInRelease(repo: FakeRepo): Promise<Buffer> {
  return (await upstream(`${repo.url}/dists/testing/InRelease`)).body;
}

/** A repository whose InRelease is `text`, really signed by a key in the keyring it names. */
async function signedText(text: string) {
  const key = await openpgp.generateKey({
    type: "ecc",
    userIDs: [{ name: "strata test" }],
    format: "object",
  });
  const keyring = join(await mkdtemp(join(tmpdir(), "strata-trust-signed-")), "keyring.gpg");
  await writeFile(keyring, key.publicKey.write());
  const signed = await openpgp.sign({
    message: await openpgp.createCleartextMessage({ text }),
    signingKeys: key.privateKey,
  });
  const server = await serve((_req, res) => res.writeHead(200).end(signed));
  return { ...server, keyring };
}

describe("the fields of a validly signed InRelease are checked too", { timeout: 120_000 }, () => {
  const entries = `SHA256:\n ${HEX} 1 main/binary-amd64/Packages\n`;

  for (const [what, text, code, message] of [
    ["no Date", entries, "RELEASE_DATE", 'missing or unreadable Date ""'],
    [
      "an unreadable Date",
      `Date: someday\n${entries}`,
      "RELEASE_DATE",
      'missing or unreadable Date "someday"',
    ],
    [
      "an unreadable Valid-Until",
      `Date: Tue, 24 Nov 2026 00:00:00 GMT\nValid-Until: soon\n${entries}`,
      "RELEASE_EXPIRED",
      'unreadable Valid-Until "soon"',
    ],
  ] as const) {
    test(`an InRelease with ${what} is refused`, async () => {
      const repo = await signedText(text);
      try {
        await assert.rejects(
          fetchRelease(sourceOf(repo), "testing", await context()),
          (err) =>
            isStrataError(err, code) && err.message === `${repo.url}/dists/testing/InRelease: ${message}`,
        );
      } finally {
        await repo.close();
      }
    });
  }

  test("an expired release used anyway warns on stderr when nobody else listens", async () => {
    const repo = await signedText(
      `Date: Tue, 24 Nov 2026 00:00:00 GMT\nValid-Until: Tue, 24 Nov 2026 01:00:00 GMT\n${entries}`,
    );
    const written: string[] = [];
    const write = process.stderr.write;
    try {
      process.stderr.write = ((chunk: string) => written.push(chunk) > 0) as typeof write;
      await fetchRelease(sourceOf(repo, { checkValidUntil: false }), "testing", await context());
    } finally {
      process.stderr.write = write;
      await repo.close();
    }
    assert.deepEqual(written, [
      `strata: warning: ${repo.url}/dists/testing/InRelease: expired at Tue, 24 Nov 2026 01:00:00 GMT (Valid-Until); used anyway, as check-valid-until is off\n`,
    ]);
  });
});

describe("dates at their boundaries", { timeout: 120_000 }, () => {
  test("a Date exactly ten minutes ahead is accepted", () =>
    withRepo({ date: new Date(NOW.getTime() + 10 * 60_000) }, async (repo) => {
      await fetchRelease(sourceOf(repo), "testing", await context());
    }));

  test("a Valid-Until of exactly now is still valid, a second before is expired", () =>
    withRepo({ validUntil: NOW, date: new Date("2026-11-20T00:00:00Z") }, async (repo) => {
      await fetchRelease(sourceOf(repo), "testing", await context());
      await assert.rejects(
        fetchRelease(sourceOf(repo), "testing", await context({ now: new Date(NOW.getTime() + 1000) })),
        (err) =>
          isStrataError(err, "RELEASE_EXPIRED") &&
          err.message ===
            `${repo.url}/dists/testing/InRelease: expired at ${NOW.toUTCString()} (Valid-Until)` &&
          err.hint ===
            "the mirror is stale or replayed; use an up-to-date mirror (for a snapshot: check-valid-until: false)",
      );
    }));

  test("an expired release used anyway says so in one warning", () =>
    withRepo({ validUntil: NOW, date: new Date("2026-11-20T00:00:00Z") }, async (repo) => {
      const warnings: string[] = [];
      await fetchRelease(
        sourceOf(repo),
        "testing",
        await context({
          now: new Date(NOW.getTime() + 1000),
          checkValidUntil: false,
          warn: (m) => warnings.push(m),
        }),
      );
      assert.deepEqual(warnings, [
        `${repo.url}/dists/testing/InRelease: expired at ${NOW.toUTCString()} (Valid-Until); used anyway, as check-valid-until is off`,
      ]);
    }));
});

describe("parseRelease reads only well-formed SHA256 lines of the verified text", { timeout: 30_000 }, () => {
  const source: RepositorySource = {
    url: "http://mirror.invalid/debian",
    suites: [],
    components: [],
    keyring: "",
  };
  const parse = (text: string) => parseRelease(text, source, "testing", HEX);

  test("each file with its sha256 and size, and the fields strata uses", () => {
    const release = parse(
      `Date: Tue, 24 Nov 2026 00:00:00 GMT\nValid-Until: Tue, 01 Dec 2026 00:00:00 GMT\nAcquire-By-Hash: Yes\nSHA256:\n ${HEX} 123 main/binary-amd64/Packages\n`,
    );
    assert.deepEqual([...release.files], [["main/binary-amd64/Packages", { sha256: HEX, size: 123 }]]);
    assert.equal(release.date, "Tue, 24 Nov 2026 00:00:00 GMT");
    assert.equal(release.validUntil, "Tue, 01 Dec 2026 00:00:00 GMT");
    assert.equal(release.acquireByHash, true);
    assert.equal(release.sha256, HEX);
    assert.equal(release.suite, "testing");
  });

  test("malformed lines are skipped: uppercase or short hashes, sizes that are not digits or too long, extra fields", () => {
    const good = ` ${HEX} 1 good`;
    const release = parse(
      [
        "SHA256:",
        ` ${HEX.toUpperCase()} 1 upper`,
        ` ${HEX.slice(1)} 1 short`,
        ` x${HEX} 1 prefixed`,
        ` ${HEX}x 1 suffixed`,
        ` ${HEX} 1x sizex`,
        ` ${HEX} x1 xsize`,
        ` ${HEX} -1 negative`,
        ` ${HEX} 1234567890123456 huge`,
        ` ${HEX} 1 two words`,
        good,
      ].join("\n"),
    );
    assert.deepEqual([...release.files.keys()], ["good"]);
    assert.equal(parse(`SHA256:\n ${HEX} 123456789012345 big`).files.get("big")?.size, 123456789012345);
  });

  test("no Acquire-By-Hash, no Date, no Valid-Until: the defaults", () => {
    const release = parse(`Acquire-By-Hash: no\nSHA256:\n ${HEX} 1 f`);
    assert.equal(release.acquireByHash, false);
    assert.equal(release.date, "");
    assert.equal(release.validUntil, undefined);
    assert.equal(parse(`SHA256:\n ${HEX} 1 f`).acquireByHash, false);
  });

  test("a release without one SHA256 entry is refused", () => {
    for (const text of ["Date: x\n", `SHA256:\n ${HEX} x f`]) {
      assert.throws(
        () => parse(text),
        (err) =>
          isStrataError(err, "SIGNATURE_INVALID") &&
          err.message === "http://mirror.invalid/debian/dists/testing/InRelease: no SHA256 entries",
      );
    }
  });
});

describe("a stanza's fields are checked where they enter", { timeout: 30_000 }, () => {
  const origin = { url: "http://mirror.invalid/debian", suite: "testing", component: "main", arch: "amd64" };
  function indexOf(fields: Record<string, string>): PackagesIndex {
    const stanza = {
      Package: "app",
      Version: "1.0",
      Architecture: "amd64",
      Filename: "pool/main/a/app/app_1.0_amd64.deb",
      Size: "10",
      SHA256: HEX,
      ...fields,
    };
    const text = Buffer.from(
      `${Object.entries(stanza)
        .map(([k, v]) => `${k}: ${v}`)
        .join("\n")}\n`,
    );
    return new PackagesIndex(origin, text, buildNameTable(text, sha256(text)));
  }

  test("a plausible stanza is read, and read once", () => {
    const index = indexOf({ Filename: "pool/main/a/app/app_1.0+b1~x_amd64.deb", Size: String(2 ** 40) });
    const [record] = index.byName("app");
    assert.equal(record.size, 2 ** 40);
    assert.equal(index.byName("app")[0], record);
    assert.deepEqual(index.names(), ["app"]);
  });

  test("a package is found by what it provides", () => {
    const index = indexOf({ Provides: "mail-transport-agent" });
    assert.deepEqual(
      index.providersOf("mail-transport-agent").map((r) => r.name),
      ["app"],
    );
  });

  test("a name table that points past its text is INDEX_INVALID with a hint", () => {
    const text = Buffer.from("Package: app\n");
    const table = buildNameTable(Buffer.from(`${"Package: app\n"}Description: ${"x".repeat(100)}\n`), HEX);
    const short = new PackagesIndex(origin, text, table);
    assert.throws(
      () => short.byName("app"),
      (err) =>
        isStrataError(err, "INDEX_INVALID") &&
        err.message === "http://mirror.invalid/debian testing: cached name table points past its index" &&
        err.hint === "remove the cache's indexes directory (strata fetches them again)",
    );
  });

  for (const size of ["0", "-1", "1.5", String(2 ** 40 + 1), "x", String(2 ** 53)]) {
    test(`Size ${size} is INDEX_INVALID`, () => {
      assert.throws(
        () => indexOf({ Size: size }).byName("app"),
        (err) =>
          isStrataError(err, "INDEX_INVALID") &&
          err.message ===
            'http://mirror.invalid/debian testing/main: package "app": Size is not a plausible byte count',
      );
    });
  }

  for (const filename of [
    "/etc/passwd",
    "pool/../../etc/passwd",
    "pool/a b.deb",
    "../pool/x.deb",
    "pool/x.deb\u0000",
    ".hidden/x.deb",
  ]) {
    test(`Filename ${JSON.stringify(filename)} is not a pool path`, () => {
      assert.throws(
        () => indexOf({ Filename: filename }).byName("app"),
        (err) =>
          isStrataError(err, "INDEX_INVALID") &&
          err.message ===
            `http://mirror.invalid/debian testing/main: package "app": Filename ${JSON.stringify(filename)} is not a pool path`,
      );
    });
  }

  test("a SHA256 that is not 64 hex characters is INDEX_INVALID naming the package", () => {
    assert.throws(
      () => indexOf({ SHA256: "../x" }).byName("app"),
      (err) =>
        isStrataError(err, "INDEX_INVALID") &&
        err.message.startsWith('http://mirror.invalid/debian testing/main: package "app": SHA256: '),
    );
  });
});

describe("a Packages index is fetched only as the InRelease lists it", { timeout: 120_000 }, () => {
  test("a component or architecture the InRelease does not list is PACKAGE_UNKNOWN with a hint, and not cached", () =>
    withRelease({}, async (repo, release, ctx) => {
      await assert.rejects(
        loadPackagesIndex(release, "contrib", "amd64", ctx),
        (err) =>
          isStrataError(err, "PACKAGE_UNKNOWN") &&
          err.message ===
            `${repo.url}/dists/testing/contrib/binary-amd64/Packages: not listed in the signed InRelease` &&
          err.hint === 'check that the suite has component "contrib" and architecture "amd64"',
      );
      assert.equal(await cachedPackagesIndex(release, "contrib", "amd64", ctx), undefined);
    }));

  test("cachedPackagesIndex reads the index only once it was loaded", () =>
    withRelease({}, async (repo, release, ctx) => {
      assert.equal(await cachedPackagesIndex(release, "main", "amd64", ctx), undefined);
      await loadPackagesIndex(release, "main", "amd64", ctx);
      const cached = await cachedPackagesIndex(release, "main", "amd64", ctx);
      assert.equal(cached?.byName("app")[0].version, "1.0");
      assert.deepEqual(cached?.origin, { url: repo.url, suite: "testing", component: "main", arch: "amd64" });
    }));

  test("an index that decompresses past its signed size is cut there and refused, nothing cached", () =>
    withRepo(
      { packages: [{ name: "app", version: "1.0", fields: { Description: "x".repeat(50_000) } }] },
      async (repo) => {
        const ctx = await context();
        const release = await fetchRelease(sourceOf(repo), "testing", ctx);
        const plain = release.files.get("main/binary-amd64/Packages")!;
        // The InRelease as a hostile mirror would sign it: the same hashes, a plain size far too small.
        release.files.set("main/binary-amd64/Packages", { ...plain, size: 100 });
        await assert.rejects(
          loadPackagesIndex(release, "main", "amd64", ctx),
          (err) =>
            isStrataError(err, "SIZE_MISMATCH") &&
            err.message ===
              `${repo.url}/dists/testing/main/binary-amd64/Packages.gz does not match the signed InRelease: decompresses to more than 100 bytes` &&
            err.hint === "the index was tampered with or the mirror is inconsistent; nothing was cached",
        );
        assert.equal(await cachedPackagesIndex(release, "main", "amd64", ctx), undefined);
      },
    ));

  const GZ = "main/binary-amd64/Packages.gz";
  for (const [what, handler, refused] of [
    [
      "a compressed index that does not decompress is HASH_MISMATCH saying so",
      (size: number) => (_req: IncomingMessage, res: ServerResponse) =>
        res.writeHead(200).end(Buffer.alloc(size, 7)),
      (err: unknown, url: string) =>
        isStrataError(err, "HASH_MISMATCH") &&
        err.message.startsWith(`${url}: cannot decompress (`) &&
        err.hint === "the download was truncated or tampered with; try again",
    ],
    [
      "a mirror answering 403 is an HTTP error naming the URL",
      () => (_req: IncomingMessage, res: ServerResponse) => res.writeHead(403, "Nope").end(),
      (err: unknown, url: string) => isStrataError(err, "HTTP") && err.message === `${url}: HTTP 403 Nope`,
    ],
  ] as const) {
    test(what, () =>
      withRelease({}, async (_repo, release, ctx) => {
        await withServer(handler(release.files.get(GZ)!.size), async (mirror) => {
          const moved = { ...release, source: { ...release.source, url: mirror.url } };
          await assert.rejects(loadPackagesIndex(moved, "main", "amd64", ctx), (err) =>
            refused(err, `${mirror.url}/dists/testing/${GZ}`),
          );
        });
      }),
    );
  }

  test("the uncompressed index is used when it is the only variant listed", () =>
    withRelease({}, async (repo, release, ctx) => {
      release.files.delete("main/binary-amd64/Packages.gz");
      const index = await loadPackagesIndex(release, "main", "amd64", ctx);
      assert.equal(index.byName("app")[0].version, "1.0");
      assert.equal(repo.hits.get("/dists/testing/main/binary-amd64/Packages"), 1);
      assert.equal(repo.hits.get("/dists/testing/main/binary-amd64/Packages.gz"), undefined);
    }));
});
