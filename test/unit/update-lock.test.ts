import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Lock } from "../../src/lock/lock.js";
import { resolveSpec } from "../../src/lock/resolve.js";
import { describeChange, parsePackageTarget, updateLock } from "../../src/lock/update.js";
import { loadSpec, type Spec } from "../../src/spec/spec.js";
import { isStrataError } from "../../src/util/errors.js";
import { type FakeRepo, fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";

/** Two signed repositories: the release the image was locked from, and one with newer versions. */
describe("lock update (two signed repositories on loopback)", () => {
  let stable: FakeRepo;
  let updates: FakeRepo;
  let dir: string;
  let oldSpec: Spec;
  let newSpec: Spec;
  let old: Lock;
  const ctx = () => ({ cacheRoot: join(dir, "cache") });

  before(async () => {
    stable = await startFakeRepo({
      packages: [
        { name: "app", version: "1.0", fields: { Depends: "libfoo, libold" } },
        { name: "tool", version: "1.0", fields: { Depends: "libfoo" } },
        { name: "libfoo", version: "1.0" },
        { name: "libold", version: "1.0" },
        { name: "libssl3", version: "3.0.20-1~deb12u1" },
        { name: "base-files", version: "12.4" },
      ],
    });
    updates = await startFakeRepo({
      suite: "testing-security",
      packages: [
        // A newer app drops libold and needs a new library; a newer tool needs a newer libfoo.
        { name: "app", version: "1.1", fields: { Depends: "libfoo, libnew" } },
        { name: "libnew", version: "0.1" },
        { name: "tool", version: "1.1", fields: { Depends: "libfoo (>= 1.1)" } },
        { name: "libfoo", version: "1.1" },
        { name: "libssl3", version: "3.0.22-1~deb12u2" },
        { name: "libssl3", version: "3.0.21-1~deb12u1" },
      ],
    });
    dir = await mkdtemp(join(tmpdir(), "strata-update-lock-"));
    await writeFile(join(dir, "old.yaml"), fakeRepoSpec(stable, ["app", "tool", "libssl3"]));
    oldSpec = await loadSpec(join(dir, "old.yaml"));
    old = await resolveSpec(oldSpec, ctx());
    const second = [
      `  - url: ${updates.url}`,
      "    suites: [testing-security]",
      `    keyring: ${updates.keyring}`,
    ].join("\n");
    const text = fakeRepoSpec(stable, ["app", "tool", "libssl3"]).replace("archs:", `${second}\narchs:`);
    await writeFile(join(dir, "new.yaml"), text);
    newSpec = await loadSpec(join(dir, "new.yaml"));
  });
  after(async () => {
    await stable.close();
    await updates.close();
  });

  const versions = (lock: Lock) => Object.fromEntries(lock.packages.map((p) => [p.name, p.version]));

  it("moves a named package to the newest offered version and holds every other one", async () => {
    const { lock, changes } = await updateLock(old, newSpec, { packages: [{ name: "libssl3" }] }, ctx());
    assert.deepEqual(changes.map(describeChange), ["libssl3 3.0.20-1~deb12u1 → 3.0.22-1~deb12u2"]);
    assert.deepEqual(versions(lock), { ...versions(old), libssl3: "3.0.22-1~deb12u2" });
    assert.deepEqual(lock.inputs.repositories.length, 2);
  });

  it("takes NAME=VERSION as asked, and refuses a version the repositories do not offer", async () => {
    const { changes } = await updateLock(
      old,
      newSpec,
      { packages: [{ name: "libssl3", version: "3.0.21-1~deb12u1" }] },
      ctx(),
    );
    assert.deepEqual(changes.map(describeChange), ["libssl3 3.0.20-1~deb12u1 → 3.0.21-1~deb12u1"]);
    await assert.rejects(
      updateLock(old, newSpec, { packages: [{ name: "libssl3", version: "9.9" }] }, ctx()),
      (err: unknown) =>
        isStrataError(err, "PACKAGE_UNKNOWN") &&
        /libssl3=9\.9 is not offered for amd64 \(offered: 3\.0\.22-1~deb12u2, 3\.0\.21-1~deb12u1, 3\.0\.20-1~deb12u1\)/.test(
          err.message,
        ),
    );
  });

  it("adds the new dependency of an update and drops the one nothing needs any more", async () => {
    const { lock, changes } = await updateLock(old, newSpec, { packages: [{ name: "app" }] }, ctx());
    assert.deepEqual(changes.map(describeChange), ["app 1.0 → 1.1", "+ libnew 0.1", "- libold 1.0"]);
    assert.equal(versions(lock).libfoo, "1.0");
  });

  it("says which held package stands in the way, and --all moves everything", async () => {
    await assert.rejects(
      updateLock(old, newSpec, { packages: [{ name: "tool" }] }, ctx()),
      (err: unknown) =>
        isStrataError(err, "UNSATISFIABLE") &&
        /libfoo \(>= 1\.1\).*held at its locked version/.test(err.message) &&
        /--package/.test(err.hint ?? ""),
    );
    const both = await updateLock(old, newSpec, { packages: [{ name: "tool" }, { name: "libfoo" }] }, ctx());
    assert.deepEqual(both.changes.map(describeChange), ["libfoo 1.0 → 1.1", "tool 1.0 → 1.1"]);
    const all = await updateLock(old, newSpec, { all: true }, ctx());
    assert.deepEqual(all.lock, await resolveSpec(newSpec, ctx()));
    assert.equal(all.changes.length, 6);
  });

  it("reports nothing to change when the repositories offer nothing newer", async () => {
    const { changes } = await updateLock(old, oldSpec, { packages: [{ name: "libssl3" }] }, ctx());
    assert.deepEqual(changes, []);
  });

  it("refuses a name the image does not hold, an empty request, and a malformed --package", async () => {
    await assert.rejects(
      updateLock(old, newSpec, { packages: [{ name: "libnew" }] }, ctx()),
      (err: unknown) =>
        isStrataError(err, "PACKAGE_UNKNOWN") && /libnew is not a package of the image/.test(err.message),
    );
    await assert.rejects(updateLock(old, newSpec, { packages: [] }, ctx()), /nothing to update/);
    assert.throws(() => parsePackageTarget("libssl3=3.0 x"), /not NAME or NAME=VERSION/);
    assert.deepEqual(parsePackageTarget("libssl3=3.0.22-1~deb12u2"), {
      name: "libssl3",
      version: "3.0.22-1~deb12u2",
    });
  });
});
