import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runStrata } from "../helpers/cli.js";
import { type FakePackage, type FakeRepo, fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";

const PACKAGES: FakePackage[] = [
  { name: "app", version: "1.0", fields: { Depends: "libfoo (>= 1.0), debconf | debconf-2.0" } },
  { name: "libfoo", version: "1.0" },
  { name: "libfoo", version: "1.2", fields: { Source: "foo (1.2-1)" } },
  { name: "debconf", version: "1.5" },
  { name: "needy", version: "1", fields: { Depends: "helper (>= 2)" } },
  { name: "helper", version: "1" },
  { name: "python3", version: "3.11" },
];

async function workdir(specText: string): Promise<{ dir: string; cache: string }> {
  const dir = await mkdtemp(join(tmpdir(), "strata-lock-"));
  await writeFile(join(dir, "strata.yaml"), specText);
  return { dir, cache: join(dir, "cache") };
}

async function lock(dir: string, cache: string, ...extra: string[]) {
  return runStrata(["--cache-dir", cache, "lock", ...extra], { cwd: dir });
}

describe("strata lock against a signed repository on loopback (starts an HTTP server)", () => {
  let repo: FakeRepo;
  before(async () => {
    repo = await startFakeRepo({ packages: PACKAGES });
  });
  after(() => repo.close());

  it("writes a sorted lock with versions, hashes, sources and reasons", async () => {
    const { dir, cache } = await workdir(fakeRepoSpec(repo, ["app"]));
    const r = await lock(dir, cache);
    assert.equal(r.code, 0, r.stderr);
    const lockJson = JSON.parse(await readFile(join(dir, "strata.lock"), "utf8"));
    assert.deepEqual(
      lockJson.packages.map((p: { name: string; version: string }) => `${p.name}=${p.version}`),
      ["app=1.0", "libfoo=1.2"],
    );
    const libfoo = lockJson.packages[1];
    assert.equal(libfoo.source, "foo");
    assert.equal(libfoo.sourceVersion, "1.2-1");
    assert.equal(libfoo.arch, "amd64");
    assert.equal(libfoo.architecture, "amd64");
    assert.match(libfoo.sha256, /^[0-9a-f]{64}$/);
    assert.equal(libfoo.reason, "dependency");
    assert.deepEqual(libfoo.requiredBy, ["app"]);
    assert.equal(libfoo.repository, repo.url);
    assert.equal(libfoo.suite, "testing");
    assert.match(libfoo.filename, /^pool\/main\/l\/libfoo\//);
    assert.deepEqual(
      lockJson.excluded.find((e: { name: string }) => e.name === "debconf"),
      { name: "debconf", arch: "amd64", excludedBy: "default", neededBy: ["app"] },
    );
    assert.match(lockJson.releases[0].inRelease, /^[0-9a-f]{64}$/);
  });

  it("gives a byte-identical lock for the same inputs, cold or warm", async () => {
    const { dir, cache } = await workdir(fakeRepoSpec(repo, ["app"]));
    assert.equal((await lock(dir, cache)).code, 0);
    const first = await readFile(join(dir, "strata.lock"));
    const other = await workdir(fakeRepoSpec(repo, ["app"]));
    assert.equal((await lock(other.dir, cache)).code, 0);
    assert.equal((await lock(dir, cache)).code, 0);
    assert.deepEqual(await readFile(join(dir, "strata.lock")), first);
    assert.deepEqual(await readFile(join(other.dir, "strata.lock")), first);
  });

  it("--mirror moves the repositories to another host", async () => {
    const elsewhere = fakeRepoSpec(repo, ["app"]).replace(repo.url, "http://127.0.0.1:9");
    const { dir, cache } = await workdir(elsewhere);
    const r = await runStrata(["--cache-dir", cache, "--mirror", repo.url, "lock"], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const lockJson = JSON.parse(await readFile(join(dir, "strata.lock"), "utf8"));
    assert.equal(lockJson.packages[0].repository, repo.url);
  });

  it("lock --check fails once the spec asks for more than the lock covers", async () => {
    const { dir, cache } = await workdir(fakeRepoSpec(repo, ["app"]));
    assert.equal((await lock(dir, cache)).code, 0);
    assert.equal((await lock(dir, cache, "--check")).code, 0);
    await writeFile(join(dir, "strata.yaml"), fakeRepoSpec(repo, ["app", "python3"]));
    const r = await lock(dir, cache, "--check");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /does not cover .*packages: added python3/);
    assert.match(r.stderr, /hint: run `strata lock strata\.yaml`/);
  });

  it("build refuses a lock that no longer covers the spec and says how to fix it", async () => {
    const { dir, cache } = await workdir(fakeRepoSpec(repo, ["app"]));
    assert.equal((await lock(dir, cache)).code, 0);
    await writeFile(join(dir, "strata.yaml"), fakeRepoSpec(repo, ["app", "python3"]));
    const r = await runStrata(["--cache-dir", cache, "build", "-o", join(dir, "out")], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /strata\.lock does not cover .*packages: added python3/);
    assert.match(r.stderr, /hint: run `strata lock strata\.yaml` to update it \(or pass --lock-update\)/);
    assert.equal((await readdir(dir)).includes("out"), false);
  });

  it("explains an unsatisfiable dependency with its chain, in one line", async () => {
    const { dir, cache } = await workdir(fakeRepoSpec(repo, ["needy"]));
    const r = await lock(dir, cache);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^strata: error: cannot satisfy needy \(1\) → helper \(>= 2\): only 1 is available/m,
    );
    assert.equal(await readdir(dir).then((f) => f.includes("strata.lock")), false);
  });

  it("suggests close names for an unknown package", async () => {
    const { dir, cache } = await workdir(fakeRepoSpec(repo, ["pyhton3"]));
    const r = await lock(dir, cache);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown package pyhton3/);
    assert.match(r.stderr, /did you mean: python3/);
  });

  it("reports malformed YAML with file, line and column", async () => {
    const { dir, cache } = await workdir("packages: [app\n");
    const r = await lock(dir, cache);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /strata\.yaml:\d+:\d+: /);
  });
});

describe("strata lock refuses what the signature does not vouch for (starts an HTTP server)", () => {
  async function expectFailure(opts: Parameters<typeof startFakeRepo>[0], pattern: RegExp) {
    const repo = await startFakeRepo(opts);
    try {
      const { dir, cache } = await workdir(fakeRepoSpec(repo, ["app"]));
      const r = await lock(dir, cache);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.equal(
        r.stderr
          .trim()
          .split("\n")
          .filter((l) => l.startsWith("strata: error")).length,
        1,
      );
      // Nothing half-written: no lock, no cached index.
      assert.equal((await readdir(dir)).includes("strata.lock"), false);
      const cached = await readdir(join(cache, "indexes")).catch(() => []);
      assert.deepEqual(cached, []);
    } finally {
      await repo.close();
    }
  }

  it("refuses a tampered Packages index (hash mismatch)", () =>
    expectFailure(
      { packages: PACKAGES, tamperPackages: true },
      /HASH_MISMATCH|does not match the signed InRelease|cannot decompress/,
    ));

  it("refuses a tampered InRelease", () =>
    expectFailure({ packages: PACKAGES, tamperInRelease: true }, /signature check failed/));

  it("refuses an InRelease signed by a key outside the keyring", () =>
    expectFailure({ packages: PACKAGES, signWithStranger: true }, /signature check failed/));

  it("refuses an unsigned InRelease", () =>
    expectFailure({ packages: PACKAGES, unsigned: true }, /signature check failed: not a signed InRelease/));

  it("refuses a suite without InRelease rather than use an unsigned Release", async () => {
    const repo = await startFakeRepo({ packages: PACKAGES });
    try {
      const { dir, cache } = await workdir(fakeRepoSpec(repo, ["app"], "", "nosuchsuite"));
      const r = await lock(dir, cache);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no InRelease \(HTTP 404\); strata uses only signed InRelease files/);
      assert.match(r.stderr, /hint: check the suite name "nosuchsuite"/);
    } finally {
      await repo.close();
    }
  });

  it("refuses an expired Valid-Until", () =>
    expectFailure(
      { packages: PACKAGES, validUntil: new Date("2020-01-01T00:00:00Z") },
      /expired at .*Valid-Until/,
    ));

  it("says clearly when the mirror is unreachable", async () => {
    const repo = await startFakeRepo({ packages: PACKAGES });
    await repo.close();
    const { dir, cache } = await workdir(fakeRepoSpec(repo, ["app"]));
    const r = await lock(dir, cache);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /failed after \d+ attempts \(connection refused, ECONNREFUSED\)/);
  });
});

describe("strata fetch (starts an HTTP server)", () => {
  it("downloads the locked .debs into the content-addressed cache, verified", async () => {
    const repo = await startFakeRepo({ packages: PACKAGES });
    try {
      const { dir, cache } = await workdir(fakeRepoSpec(repo, ["app"]));
      assert.equal((await lock(dir, cache)).code, 0);
      const r = await runStrata(["--cache-dir", cache, "fetch"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /2 \.debs ready \(2 downloaded/);
      const lockJson = JSON.parse(await readFile(join(dir, "strata.lock"), "utf8"));
      const stored = await readdir(join(cache, "debs", "sha256"));
      assert.deepEqual(stored.sort(), lockJson.packages.map((p: { sha256: string }) => p.sha256).sort());
      const again = await runStrata(["--cache-dir", cache, "fetch"], { cwd: dir });
      assert.match(again.stderr, /\(0 downloaded/);
    } finally {
      await repo.close();
    }
  });

  it("refuses a truncated download and caches nothing", async () => {
    const probe = await startFakeRepo({ packages: PACKAGES });
    await probe.close();
    const path = "/pool/main/l/libfoo/libfoo_1.2_amd64.deb";
    const repo = await startFakeRepo({ packages: PACKAGES, truncate: new Set([path]) });
    try {
      const { dir, cache } = await workdir(fakeRepoSpec(repo, ["app"]));
      assert.equal((await lock(dir, cache)).code, 0);
      const r = await runStrata(["--cache-dir", cache, "fetch"], { cwd: dir });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /libfoo_1\.2_amd64\.deb.*(truncated|download failed|expected \d+)/);
      assert.ok((repo.hits.get(path) ?? 0) >= 2, "a truncated download is tried again");
      const stored = await readdir(join(cache, "debs", "sha256")).catch(() => []);
      assert.equal(stored.filter((f) => !f.startsWith(".")).length <= 1, true);
      assert.equal(stored.filter((f) => f.startsWith(".")).length, 0, "no temp files left behind");
    } finally {
      await repo.close();
    }
  });
});
