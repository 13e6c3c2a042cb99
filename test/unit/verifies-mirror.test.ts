import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { loadPackagesIndex } from "../../src/debian/packages-index.js";
import { fetchRelease } from "../../src/debian/release.js";
import { isStrataError } from "../../src/util/errors.js";
import { assertOneLineError, isolatedEnv, runStrata } from "../helpers/cli.js";
import { type FakeRepo, type FakeRepoOptions, fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";

/**
 * README "What strata verifies": signed metadata. Each test hands strata bytes a man in the middle
 * (or a stale mirror) could serve, and fails if the check that refuses them is removed.
 */

const PACKAGES = [
  { name: "app", version: "1.0", fields: { Depends: "libfoo" } },
  { name: "libfoo", version: "2.0" },
];
const INDEX = "/dists/testing/main/binary-amd64/Packages";

const tempDir = (label: string) => mkdtemp(join(tmpdir(), `strata-verifies-${label}-`));

async function withRepo(opts: Partial<FakeRepoOptions>, body: (repo: FakeRepo) => Promise<void>) {
  const repo = await startFakeRepo({ packages: PACKAGES, xz: true, ...opts });
  try {
    await body(repo);
  } finally {
    await repo.close();
  }
}

const xz = (b: Buffer, ...args: string[]) => execFileSync("xz", ["-c", ...args], { input: b });

/** The variants an InRelease lists; strata tries .gz, then .xz, then the plain file. */
const VARIANTS = [
  {
    ext: ".gz",
    compress: (b: Buffer) => gzipSync(b),
    decompress: (b: Buffer) => gunzipSync(b),
    recompress: (b: Buffer) => gzipSync(b, { level: 1 }),
    // The signed text's first `keep` bytes and `run` A's: the signed compressed size, and inflating
    // far past the signed plain size (found by search; the test checks the size holds).
    bomb: { keep: 337, run: 1 << 14 },
  },
  {
    ext: ".xz",
    compress: (b: Buffer) => xz(b),
    decompress: (b: Buffer) => execFileSync("xz", ["-dc"], { input: b }),
    recompress: (b: Buffer) => xz(b, "--lzma2=preset=6,nice=8"),
    bomb: { keep: 206, run: 1 << 16 },
  },
  {
    ext: "",
    compress: (b: Buffer) => b,
    decompress: (b: Buffer) => b,
    recompress: undefined,
    bomb: undefined,
  },
] as const;

type Variant = (typeof VARIANTS)[number];

/** The other variants answer 404, so strata reads `variant` (as on a mirror that offers only it). */
const onlyVariant = (variant: Variant) =>
  new Set(VARIANTS.filter((v) => v !== variant).map((v) => `${INDEX}${v.ext}`));

/** Ways to change the signed text; `code` is the mismatch strata must report. */
const ALTERATIONS = [
  {
    how: "of the signed size with another sha256",
    // Chosen so that the .gz and .xz keep their signed sizes too: only the sha256 tells.
    change: (text: string) => text.replace("Version: 2.0", "Version: 2.9"),
    code: "HASH_MISMATCH",
  },
  {
    how: "longer than the signed size",
    change: (text: string) => `${text}\nPackage: evil\nVersion: 1\nArchitecture: amd64\n`,
    code: "SIZE_MISMATCH",
  },
  {
    how: "shorter than the signed size",
    change: (text: string) => text.slice(0, text.indexOf("\nPackage: libfoo") + 1),
    code: "SIZE_MISMATCH",
  },
] as const;

async function indexCacheEntries(cacheRoot: string): Promise<string[]> {
  return readdir(join(cacheRoot, "indexes")).catch(() => []);
}

/** The verified release of `repo` and a loader of its one index, with a fresh cache. */
async function releaseOf(repo: FakeRepo) {
  const cacheRoot = await tempDir("index");
  const source = { url: repo.url, suites: ["testing"], components: ["main"], keyring: repo.keyring };
  const release = await fetchRelease(source, "testing", { cacheRoot });
  return { cacheRoot, load: () => loadPackagesIndex(release, "main", "amd64", { cacheRoot }) };
}

/** Loads the index of `repo`, which must be refused with `code` and a message matching `message`. */
async function expectIndexRefused(repo: FakeRepo, code: string, message: RegExp): Promise<void> {
  const { cacheRoot, load } = await releaseOf(repo);
  for (let attempt = 1; attempt <= 2; attempt++) {
    await assert.rejects(load(), (err) => isStrataError(err, code as never) && message.test(err.message));
    // Refused means not cached: the second load fetches (and refuses) again.
    assert.deepEqual(await indexCacheEntries(cacheRoot), []);
  }
}

describe("a Packages index is the one the InRelease signs, in every compression", () => {
  for (const variant of VARIANTS) {
    const name = `Packages${variant.ext}`;
    for (const alteration of ALTERATIONS) {
      test(`a validly compressed ${name} whose text is ${alteration.how} is refused with ${alteration.code} and not cached`, async () => {
        let sizes: number[] = [];
        const alter = (path: string, body: Buffer) => {
          if (path !== `${INDEX}${variant.ext}`) return undefined;
          const text = variant.decompress(body).toString();
          const served = variant.compress(Buffer.from(alteration.change(text)));
          sizes = [body.length, served.length];
          return served;
        };
        await withRepo({ missing: onlyVariant(variant), alter }, async (repo) => {
          // A longer file is cut by its signed size as it arrives, before any digest is taken.
          const plainOrCompressed = new RegExp(
            `${name.replace(".", "\\.")}(( \\(decompressed\\))? does not match the signed InRelease|: more than the expected)`,
          );
          await expectIndexRefused(repo, alteration.code, plainOrCompressed);
        });
        // The same-size case must reach the hash check: the served file has the signed size.
        if (alteration.code === "HASH_MISMATCH") assert.equal(sizes[0], sizes[1]);
      });
    }
    const { recompress } = variant;
    if (recompress) {
      test(`the signed text compressed otherwise (${name}) is refused: the compressed file is signed too`, () =>
        withRepo(
          {
            missing: onlyVariant(variant),
            alter: (path, body) =>
              path === `${INDEX}${variant.ext}` ? recompress(variant.decompress(body)) : undefined,
          },
          (repo) =>
            expectIndexRefused(
              repo,
              "HASH_MISMATCH",
              new RegExp(`${name} does not match the signed InRelease`),
            ),
        ));
    }
  }

  for (const variant of VARIANTS) {
    const { bomb } = variant;
    if (!bomb) continue;
    test(`a Packages${variant.ext} of the signed size that inflates past the signed plain size is cut there`, async () => {
      let sizes: number[] = [];
      const alter = (path: string, body: Buffer) => {
        if (path !== `${INDEX}${variant.ext}`) return undefined;
        const text = variant.decompress(body).subarray(0, bomb.keep);
        const served = variant.compress(Buffer.concat([text, Buffer.alloc(bomb.run, "A")]));
        sizes = [body.length, served.length];
        return served;
      };
      await withRepo({ missing: onlyVariant(variant), alter }, (repo) =>
        expectIndexRefused(repo, "SIZE_MISMATCH", /decompresses to more than \d+ bytes/),
      );
      assert.equal(sizes[0], sizes[1], "the bomb has the signed compressed size");
    });
  }
});

/** A spec of `repo` in a fresh directory, with its own cache. */
async function project(repo: FakeRepo): Promise<{ dir: string; cache: string }> {
  const dir = await tempDir("project");
  await writeFile(join(dir, "strata.yaml"), fakeRepoSpec(repo, ["app"]));
  return { dir, cache: join(dir, "cache") };
}

const strata = async (p: { dir: string; cache: string }, ...args: string[]) =>
  runStrata(["--cache-dir", p.cache, ...args], { cwd: p.dir, env: await isolatedEnv() });

async function files(dir: string): Promise<string[]> {
  return readdir(dir, { recursive: true }).catch(() => []);
}

describe("strata lock refuses an InRelease the keyring and the clock do not vouch for", () => {
  const DAY = 24 * 3600_000;

  /** Runs `strata lock` against a repository made with `opts`: refused, nothing written or cached. */
  async function expectLockRefused(opts: Partial<FakeRepoOptions>, message: RegExp) {
    await withRepo(opts, async (repo) => {
      const p = await project(repo);
      assertOneLineError(await strata(p, "lock"), message);
      assert.equal((await readdir(p.dir)).includes("strata.lock"), false);
      assert.deepEqual(
        (await files(p.cache)).filter((f) => f.endsWith("InRelease") || f.startsWith("indexes/")),
        [],
        "nothing of the refused release is cached",
      );
    });
  }

  test("signed by a key that is not in the keyring", () =>
    expectLockRefused({ signWithStranger: true }, /InRelease: signature check failed/));

  test("expired: its Valid-Until has passed", () =>
    expectLockRefused(
      { date: new Date(Date.now() - 30 * DAY), validUntil: new Date(Date.now() - DAY) },
      /InRelease: expired at .* \(Valid-Until\)/,
    ));

  test("from the future: dated a day ahead of this machine's clock", () =>
    expectLockRefused({ date: new Date(Date.now() + DAY) }, /InRelease: dated .*, in the future/));

  test("replayed: validly signed, but older than the one accepted before from that URL", () =>
    withRepo({ date: new Date(Date.now() - DAY) }, async (repo) => {
      const p = await project(repo);
      assert.equal((await strata(p, "lock")).code, 0);
      const accepted = await readFile(join(p.dir, "strata.lock"));
      await repo.republish(new Date(Date.now() - 10 * DAY));
      for (let attempt = 1; attempt <= 2; attempt++) {
        // Refused twice: the replay did not become the baseline the next run compares with.
        assertOneLineError(await strata(p, "lock"), /InRelease: dated .*, older than .* seen before/);
        assert.deepEqual(await readFile(join(p.dir, "strata.lock")), accepted);
      }
    }));
});

describe("strata fetch refuses a .deb that is not the one the signed stanza names", () => {
  const POOL = "/pool/main/a/app/app_1.0_amd64.deb";

  for (const [how, change, message] of [
    [
      "of the right size and the wrong sha256",
      (b: Buffer) => Buffer.from(b.map((byte, i) => (i === 3 ? byte ^ 0x20 : byte))),
      /app 1\.0 \(.*app_1\.0_amd64\.deb\): sha256 is [0-9a-f]{64}, expected [0-9a-f]{64}$/,
    ],
    [
      "one byte longer",
      (b: Buffer) => Buffer.concat([b, Buffer.from("x")]),
      /more than the expected \d+ bytes/,
    ],
    ["one byte shorter", (b: Buffer) => b.subarray(1), /got \d+ bytes, expected \d+$/],
  ] as const) {
    test(`a .deb ${how} is refused and nothing is cached`, async () => {
      let tamper = false;
      const alter = (path: string, body: Buffer) => (tamper && path === POOL ? change(body) : undefined);
      await withRepo({ alter }, async (repo) => {
        const p = await project(repo);
        assert.equal((await strata(p, "lock")).code, 0);
        tamper = true;
        assertOneLineError(await strata(p, "fetch"), message);
        const [app, libfoo] = JSON.parse(await readFile(join(p.dir, "strata.lock"), "utf8")).packages;
        assert.deepEqual(
          await files(join(p.cache, "debs", "sha256")),
          [libfoo.sha256],
          `only libfoo's verified .deb, not ${app.name}'s, and no temp file`,
        );
        tamper = false;
        assert.equal((await strata(p, "fetch")).code, 0, "the untampered .deb is accepted");
      });
    });
  }
});

describe("strata fetch refuses a lock entry that contradicts the signed index it names", () => {
  for (const [field, value] of [
    ["size", 21],
    ["filename", "pool/main/l/libfoo/libfoo_6.6_amd64.deb"],
    ["sourceVersion", "2.1"],
  ] as const) {
    test(`an entry whose ${field} is not the signed stanza's is LOCK_INVALID, and nothing is downloaded`, () =>
      withRepo({}, async (repo) => {
        const p = await project(repo);
        assert.equal((await strata(p, "lock")).code, 0);
        const lockPath = join(p.dir, "strata.lock");
        const lock = JSON.parse(await readFile(lockPath, "utf8"));
        lock.packages[1][field] = value;
        await writeFile(lockPath, JSON.stringify(lock, null, 2));
        assertOneLineError(
          await strata(p, "fetch"),
          /strata\.lock: packages\[1\] \(libfoo 2\.0\) is not in the signed index of .* with that sha256, size, filename and source$/,
        );
        assert.deepEqual(
          [...repo.hits.keys()].filter((path) => path.startsWith("/pool/")),
          [],
          "no .deb was asked for",
        );
      }));
  }
});

describe("a signed stanza's Filename and Size are checked before they name a URL or bound a download", () => {
  for (const [field, value, message] of [
    ["filename", "pool/main/a/app/../../../../../etc/passwd", /Filename ".*" is not a pool path/],
    ["filename", "/etc/passwd", /Filename ".*" is not a pool path/],
    ["filename", "pool/main/a/app/app 1.deb", /Filename ".*" is not a pool path/],
    ["size", "0", /Size is not a plausible byte count/],
    ["size", "-17", /Size is not a plausible byte count/],
    ["size", "99999999999999999999", /Size is not a plausible byte count/],
  ] as const) {
    test(`${field} ${JSON.stringify(value)} is INDEX_INVALID when the package is read`, async () => {
      const repo = await startFakeRepo({ packages: [{ name: "app", version: "1.0", [field]: value }] });
      try {
        const index = await (await releaseOf(repo)).load();
        assert.throws(
          () => index.byName("app"),
          (err) => isStrataError(err, "INDEX_INVALID") && message.test(err.message),
        );
      } finally {
        await repo.close();
      }
    });
  }
});

describe("only the text the signature covers is read from an InRelease", () => {
  for (const where of ["before", "after"] as const) {
    test(`unsigned lines ${where} the signed block, vouching for a forged index, vouch for nothing`, async () => {
      let forged = Buffer.alloc(0);
      const forgedEntry = () =>
        `SHA256:\n ${createHash("sha256").update(forged).digest("hex")} ${forged.length} main/binary-amd64/Packages.gz\n`;
      const alter = (path: string, body: Buffer) => {
        if (path === `${INDEX}.gz`) return forged;
        if (path !== "/dists/testing/InRelease") return undefined;
        const extra = Buffer.from(`Date: ${new Date().toUTCString()}\n${forgedEntry()}`);
        return where === "before" ? Buffer.concat([extra, body]) : Buffer.concat([body, extra]);
      };
      await withRepo({ alter }, async (repo) => {
        const plain = Buffer.from(await (await fetch(`${repo.url}${INDEX}`)).arrayBuffer());
        forged = gzipSync(Buffer.from(plain.toString().replace("Version: 2.0", "Version: 6.6")));
        const refused = (err: unknown) =>
          ["SIGNATURE_INVALID", "HASH_MISMATCH", "SIZE_MISMATCH"].some((code) =>
            isStrataError(err, code as never),
          );
        // Refused either when the InRelease is read or when the index is checked against it.
        const loaded = releaseOf(repo).then(({ load }) => load());
        await assert.rejects(loaded, refused);
      });
    });
  }
});
