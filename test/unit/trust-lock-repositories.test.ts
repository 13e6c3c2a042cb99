import assert from "node:assert/strict";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Lock } from "../../src/lock/lock.js";
import { verifyLockedPackages } from "../../src/lock/lock-verify.js";
import { resolveSpec } from "../../src/lock/resolve.js";
import { loadSpec } from "../../src/spec/spec.js";
import { isStrataError } from "../../src/util/errors.js";
import { pathExists } from "../../src/util/fs.js";
import { sha256Hex } from "../../src/util/hash.js";
import { type FakeRepo, startFakeRepo } from "../helpers/fake-repo.js";

/** A lock resolved from two repositories: each entry is checked against its own repository's index. */
describe("a lock of two repositories", { timeout: 120_000 }, () => {
  let repos: FakeRepo[];
  let lock: Lock;
  let cacheRoot: string;

  before(async () => {
    repos = await Promise.all([
      startFakeRepo({ packages: [{ name: "app", version: "1.0" }] }),
      startFakeRepo({ packages: [{ name: "tool", version: "2.0" }] }),
    ]);
    const dir = await mkdtemp(join(tmpdir(), "strata-trust-lock-repos-"));
    const repositories = repos.flatMap((r) => [
      `  - url: ${r.url}`,
      "    suites: [testing]",
      "    components: [main]",
      `    keyring: ${r.keyring}`,
    ]);
    const yaml = [
      "repositories:",
      ...repositories,
      "archs: [amd64]",
      "packages: [app, tool]",
      "exclude: [base-files]",
    ];
    await writeFile(join(dir, "strata.yaml"), yaml.join("\n"));
    cacheRoot = join(dir, "cache");
    lock = await resolveSpec(await loadSpec(join(dir, "strata.yaml")), { cacheRoot });
  });
  after(() => Promise.all(repos.map((r) => r.close())));

  const verify = (l: Lock) =>
    verifyLockedPackages(l, JSON.stringify(l), "x.lock", "hint", { cacheRoot }).then(() =>
      pathExists(join(cacheRoot, "verified-locks", sha256Hex(JSON.stringify(l)))),
    );

  test("each entry is found in its own repository's signed index, so the lock is remembered as verified", async () => {
    assert.deepEqual(
      lock.packages.map((p) => [p.name, p.repository]),
      [
        ["app", repos[0].url],
        ["tool", repos[1].url],
      ],
    );
    assert.equal(await verify(lock), true);
  });

  test("an entry whose repository has no recorded release is refused though another repository has one for the suite", async () => {
    const edited = structuredClone(lock);
    edited.releases = edited.releases.filter((r) => r.url !== repos[1].url);
    await assert.rejects(
      verify(edited),
      (err) =>
        isStrataError(err, "LOCK_INVALID") &&
        /\(tool 2\.0\) names .* which the lock was not resolved from/.test(err.message),
    );
  });

  test("an entry of a suite its own repository was not asked for is refused though another repository was", async () => {
    const edited = structuredClone(lock);
    edited.inputs.repositories.find((r) => r.url === repos[1].url)!.suites = ["stable"];
    await assert.rejects(
      verify(edited),
      (err) =>
        isStrataError(err, "LOCK_INVALID") && /\(tool 2\.0\) names .* testing\/main, which/.test(err.message),
    );
  });
});
