import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { assertLockCovers, lockPathFor, readLock, writeLock } from "../../src/lock/lock.js";
import { baseFilesWarnings, resolveSpec } from "../../src/lock/resolve.js";
import { loadSpec, type Spec } from "../../src/spec/spec.js";
import { isStrataError } from "../../src/util/errors.js";
import { type FakeRepo, fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";

describe("lock (starts a signed repository on loopback)", () => {
  let repo: FakeRepo;
  let dir: string;
  let spec: Spec;
  let lockText: string;
  before(async () => {
    repo = await startFakeRepo({
      packages: [
        { name: "app", version: "1.0", fields: { Depends: "libfoo" } },
        { name: "libfoo", version: "1.2" },
        { name: "base-files", version: "12.4" },
      ],
    });
    dir = await mkdtemp(join(tmpdir(), "strata-lock-unit-"));
    await writeFile(join(dir, "app-a.yaml"), fakeRepoSpec(repo, ["app"]));
    spec = await loadSpec(join(dir, "app-a.yaml"));
    const lock = await resolveSpec(spec, { cacheRoot: join(dir, "cache") });
    await writeLock(lockPathFor(spec), lock, { cacheRoot: join(dir, "cache") });
    lockText = await readFile(lockPathFor(spec), "utf8");
  });
  after(() => repo.close());

  it("writes app-a.lock beside app-a.yaml, and strata.lock beside strata.yaml", () => {
    assert.equal(lockPathFor(spec), join(dir, "app-a.lock"));
    assert.equal(lockPathFor({ ...spec, path: join(dir, "strata.yaml") }), join(dir, "strata.lock"));
  });

  it("adds base-files to every image unless the spec excludes it", async () => {
    const lock = JSON.parse(lockText);
    assert.deepEqual(
      lock.packages.map((p: { name: string }) => p.name),
      ["app", "base-files", "libfoo"],
    );
    await writeFile(join(dir, "bare.yaml"), fakeRepoSpec(repo, ["app"], "exclude: [base-files]"));
    const bare = await loadSpec(join(dir, "bare.yaml"));
    const bareLock = await resolveSpec(bare, { cacheRoot: join(dir, "cache") });
    assert.deepEqual(
      bareLock.packages.map((p) => p.name),
      ["app", "libfoo"],
    );
    assert.deepEqual(baseFilesWarnings(bare, bareLock), []);
  });

  it("essential: true adds every Essential package the repositories offer, but not excluded ones, and the lock records it", async () => {
    const essentialRepo = await startFakeRepo({
      packages: [
        { name: "app", version: "1.0" },
        { name: "dash", version: "0.5", fields: { Essential: "yes" } },
        { name: "coreutils", version: "9.1", fields: { Essential: "yes", Depends: "libacl" } },
        { name: "libacl", version: "2.3" },
        { name: "dpkg", version: "1.21", fields: { Essential: "yes" } },
        { name: "extra", version: "1.0" },
      ],
    });
    try {
      await writeFile(join(dir, "ess.yaml"), fakeRepoSpec(essentialRepo, ["app"], "essential: true"));
      const ess = await loadSpec(join(dir, "ess.yaml"));
      const lock = await resolveSpec(ess, { cacheRoot: join(dir, "cache") });
      assert.deepEqual(
        lock.packages.map((p) => p.name),
        ["app", "coreutils", "dash", "libacl"],
        "dpkg is on the default exclude list",
      );
      assert.equal(lock.inputs.essential, true);
      assert.doesNotThrow(() => assertLockCovers(lock, ess, "ess.lock"));
      await writeFile(join(dir, "ess.yaml"), fakeRepoSpec(essentialRepo, ["app"]));
      assert.throws(
        () => assertLockCovers(lock, { ...ess, essential: false }, "ess.lock"),
        (err) => isStrataError(err, "LOCK_STALE") && /essential: now false/.test(err.message),
      );
      const plainLock = await resolveSpec({ ...ess, essential: false }, { cacheRoot: join(dir, "cache") });
      assert.equal("essential" in plainLock.inputs, false, "a lock without it is as before");
    } finally {
      await essentialRepo.close();
    }
  });

  it("warns when the repositories have no base-files to add", async () => {
    const plain = await startFakeRepo({ packages: [{ name: "app", version: "1.0" }] });
    try {
      await writeFile(join(dir, "plain.yaml"), fakeRepoSpec(plain, ["app"]));
      const plainSpec = await loadSpec(join(dir, "plain.yaml"));
      const lock = await resolveSpec(plainSpec, { cacheRoot: join(dir, "cache") });
      assert.deepEqual(
        lock.packages.map((p) => p.name),
        ["app"],
      );
      assert.match(
        baseFilesWarnings(plainSpec, lock).join("\n"),
        /^amd64: the repositories have no base-files/,
      );
    } finally {
      await plain.close();
    }
  });

  /** Writes the lock edited by `edit` and returns readLock's LOCK_INVALID message. */
  async function invalid(
    edit: (lock: { packages: Record<string, unknown>[] }) => void,
    cacheRoot = join(dir, "cache"),
  ): Promise<string> {
    const lock = JSON.parse(lockText);
    edit(lock);
    const path = join(dir, "edited.lock");
    await writeFile(path, JSON.stringify(lock));
    try {
      await readLock(path, spec, { cacheRoot });
    } catch (err) {
      assert.ok(isStrataError(err, "LOCK_INVALID"), String(err));
      assert.match(err.hint ?? "", /strata lock .*app-a\.yaml/);
      return err.message;
    }
    assert.fail("expected LOCK_INVALID");
  }

  it("refuses a malformed entry with one line naming the entry and field", async () => {
    assert.equal((await readLock(lockPathFor(spec), spec)).packages.length, 3);
    assert.match(
      await invalid((l) => {
        l.packages[2].sha256 = "../../etc";
      }),
      /edited\.lock: packages\[2\] \(libfoo\)\.sha256: must be 64 lower-case hex digits/,
    );
    assert.match(
      await invalid((l) => {
        l.packages[0].filename = "pool/../../../etc/passwd.deb";
      }),
      /packages\[0\] \(app\)\.filename: must not contain/,
    );
    assert.match(
      await invalid((l) => {
        l.packages[0].size = -1;
      }),
      /packages\[0\] \(app\)\.size: /,
    );
    assert.match(
      await invalid((l) => {
        l.packages[0].version = "1.0 evil";
      }),
      /packages\[0\] \(app\)\.version: must be a Debian version/,
    );
    assert.match(
      await invalid((l) => {
        l.packages[0].name = "App/../x";
      }),
      /packages\[0\]\.name: must be a Debian package name/,
    );
    assert.match(
      await invalid((l) => {
        l.packages = null as never;
      }),
      /edited\.lock: packages: must be an array, not empty/,
    );
    assert.match(
      await invalid((l) => {
        delete (l as { inputs?: unknown }).inputs;
      }),
      /edited\.lock: inputs: is required \(an object\)/,
    );
  });

  it("refuses packages of another architecture, or an architecture without packages", async () => {
    assert.match(
      await invalid((l) => {
        for (const p of l.packages) p.arch = "arm64";
      }),
      /packages\[0\] \(app\)\.arch: arm64 is not an architecture of the lock \(amd64\)/,
    );
    assert.match(
      await invalid((l) => {
        l.packages = [];
      }),
      /edited\.lock: no packages for amd64/,
    );
    assert.match(
      await invalid((l) => {
        l.packages[0].architecture = "arm64";
      }),
      /packages\[0\] \(app\)\.architecture: arm64 cannot run on amd64/,
    );
  });

  it("refuses a lock path that is not a regular file with one clean line", async () => {
    await assert.rejects(
      readLock(dir, spec),
      (err: unknown) => isStrataError(err, "LOCK_INVALID") && /not a regular file/.test(err.message),
    );
  });

  it("names the spec in the hints of a missing or stale lock", async () => {
    await assert.rejects(
      readLock(join(dir, "none.lock"), spec),
      (err: unknown) =>
        isStrataError(err, "LOCK_MISSING") && /strata lock .*app-a\.yaml/.test(err.hint ?? ""),
    );
    const lock = await readLock(lockPathFor(spec), spec);
    assert.throws(
      () => assertLockCovers(lock, { ...spec, packages: ["app", "libfoo"] }, lockPathFor(spec)),
      (err: unknown) => isStrataError(err, "LOCK_STALE") && /strata lock .*app-a\.yaml/.test(err.hint ?? ""),
    );
  });

  it("refuses an entry that is not in the cached signed index the lock records", async () => {
    const cacheRoot = join(dir, "cache");
    assert.equal((await readLock(lockPathFor(spec), spec, { cacheRoot })).packages.length, 3);
    assert.match(
      await invalid((l) => {
        l.packages.push({ ...l.packages[2], name: "zevil", source: "zevil", sha256: "a".repeat(64) });
      }),
      /packages\[3\] \(zevil 1\.2\) is not in the signed index of http:\/\/127\.0\.0\.1:\d+ testing\/main/,
    );
    assert.match(
      await invalid((l) => {
        l.packages[2].sha256 = "b".repeat(64);
      }),
      /packages\[2\] \(libfoo 1\.2\) is not in the signed index/,
    );
    assert.match(
      await invalid((l) => {
        l.packages[2].source = "openssl";
      }),
      /packages\[2\] \(libfoo 1\.2\) is not in the signed index .* source/,
    );
  });

  it("refuses an entry from a repository, suite or component the lock was not resolved from, even with no index at hand", async () => {
    for (const [field, value] of [
      ["repository", "http://127.0.0.2:9/elsewhere"],
      ["suite", "sid"],
      ["component", "contrib"],
    ]) {
      const edit = (l: { packages: Record<string, unknown>[] }) => {
        l.packages[2][field] = value;
      };
      assert.match(
        await invalid(edit, join(dir, "empty-cache")),
        /packages\[2\] \(libfoo 1\.2\) names .* which the lock was not resolved from/,
      );
    }
  });
});
