import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Lock, LockedPackage } from "../../src/lock/lock.js";
import { rememberVerified, verifyLockedPackages } from "../../src/lock/lock-verify.js";
import { resolveSpec } from "../../src/lock/resolve.js";
import { loadSpec } from "../../src/spec/spec.js";
import { isStrataError } from "../../src/util/errors.js";
import { pathExists } from "../../src/util/fs.js";
import { sha256Hex } from "../../src/util/hash.js";
import { type FakeRepo, fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";

const HINT = "run `strata lock` to write it again";

describe("a lock's entries are what the signed index says (a signed repository on loopback)", {
  timeout: 120_000,
}, () => {
  let repo: FakeRepo;
  let dir: string;
  let lock: Lock;
  let cacheRoot: string;

  before(async () => {
    repo = await startFakeRepo({
      packages: [
        { name: "app", version: "1.0", fields: { Depends: "libfoo" } },
        { name: "libfoo", version: "1.2", fields: { Source: "foo (1.1)" } },
      ],
    });
    dir = await mkdtemp(join(tmpdir(), "strata-trust-lock-"));
    await writeFile(join(dir, "strata.yaml"), fakeRepoSpec(repo, ["app"], "exclude: [base-files]"));
    cacheRoot = join(dir, "cache");
    lock = await resolveSpec(await loadSpec(join(dir, "strata.yaml")), { cacheRoot });
  });
  after(() => repo.close());

  /** The lock with one entry (libfoo's) edited, and its text. */
  function edited(edit: (p: LockedPackage, l: Lock) => void): { lock: Lock; text: string } {
    const copy = structuredClone(lock);
    edit(copy.packages.find((p) => p.name === "libfoo")!, copy);
    return { lock: copy, text: JSON.stringify(copy) };
  }

  const verify = (l: { lock: Lock; text: string }, root = cacheRoot) =>
    verifyLockedPackages(l.lock, l.text, "x.lock", HINT, { cacheRoot: root });
  const markOf = (text: string, root = cacheRoot) => join(root, "verified-locks", sha256Hex(text));

  test("the lock as resolved passes, and its text is remembered as verified", async () => {
    const same = edited(() => {});
    await verify(same);
    assert.ok(await pathExists(markOf(same.text)));
  });

  for (const [field, value] of [
    ["version", "1.3"],
    ["size", 999],
    ["filename", "pool/main/l/libfoo/libfoo_1.2_amd64.deb.other"],
    ["sha256", "c".repeat(64)],
    ["source", "bar"],
    ["sourceVersion", "1.2"],
  ] as const) {
    test(`an entry whose ${field} is not the signed stanza's is refused, naming the entry, with the hint`, async () => {
      const bad = edited((p) => {
        (p as Record<string, unknown>)[field] = value;
      });
      await assert.rejects(
        verify(bad),
        (err) =>
          isStrataError(err, "LOCK_INVALID") &&
          err.message.startsWith(
            `x.lock: packages[1] (libfoo ${bad.lock.packages[1].version}) is not in the signed index of ${repo.url} testing/main with that sha256, size, filename and source`,
          ) &&
          err.hint === HINT,
      );
      assert.equal(await pathExists(markOf(bad.text)), false, "a refused lock is not remembered");
    });
  }

  test("an entry of a suite the lock has a release for but the repository was not asked for is refused", async () => {
    const bad = edited((p, l) => {
      p.suite = "sid";
      l.releases.push({ ...l.releases[0], suite: "sid" });
    });
    await assert.rejects(
      verify(bad),
      (err) =>
        isStrataError(err, "LOCK_INVALID") &&
        err.message ===
          `x.lock: packages[1] (libfoo 1.2) names ${repo.url} sid/main, which the lock was not resolved from` &&
        err.hint === HINT,
    );
  });

  test("an entry of a suite the repository names but the lock has no signed release for is refused", async () => {
    const bad = edited((p, l) => {
      p.suite = "sid";
      l.inputs.repositories[0].suites.push("sid");
    });
    await assert.rejects(
      verify(bad),
      (err) => isStrataError(err, "LOCK_INVALID") && /not resolved from/.test(err.message),
    );
  });

  test("an entry of a component the repository was not asked for is refused", async () => {
    const bad = edited((p) => {
      p.component = "contrib";
    });
    await assert.rejects(
      verify(bad),
      (err) => isStrataError(err, "LOCK_INVALID") && /testing\/contrib, which/.test(err.message),
    );
  });

  test("without the signed index at hand an entry is left to the .deb's check, and not remembered", async () => {
    const empty = join(dir, "empty-cache");
    const bad = edited((p) => {
      p.size = 999;
    });
    await verify(bad, empty);
    assert.equal(await pathExists(markOf(bad.text, empty)), false);
    // Once the index is cached, the same text is checked, and refused.
    await assert.rejects(verify(bad), (err) => isStrataError(err, "LOCK_INVALID"));
  });

  test("an index cached under another InRelease than the lock records is not used", async () => {
    const bad = edited((p, l) => {
      p.size = 999;
      l.releases[0].inRelease = "d".repeat(64);
    });
    await verify(bad);
    assert.equal(await pathExists(markOf(bad.text)), false);
  });

  test("a text remembered as verified is not checked again", async () => {
    const bad = edited((p) => {
      p.size = 999;
    });
    await assert.rejects(verify(bad));
    // What `strata lock` does for the text it wrote from the indexes:
    await rememberVerified(bad.text, { cacheRoot });
    await verify(bad);
  });
});
