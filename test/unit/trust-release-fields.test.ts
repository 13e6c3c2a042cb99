import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fetchRelease, parseRelease } from "../../src/debian/release.js";
import type { RepositorySource } from "../../src/debian/sources.js";
import { isStrataError } from "../../src/util/errors.js";
import { startFakeRepo } from "../helpers/fake-repo.js";

/** What an InRelease says, read as Debian writes it, and what strata says when it refuses one. */

const NOW = new Date("2026-11-25T12:00:00Z");
const HEX = "a".repeat(64);

async function refusal(opts: Parameters<typeof startFakeRepo>[0]): Promise<{ url: string; err: unknown }> {
  const repo = await startFakeRepo(opts);
  try {
    const source = { url: repo.url, suites: ["testing"], components: ["main"], keyring: repo.keyring };
    const cacheRoot = await mkdtemp(join(tmpdir(), "strata-trust-release-fields-"));
    const err = await fetchRelease(source, "testing", { cacheRoot, now: NOW }).then(
      () => undefined,
      (e: unknown) => e,
    );
    return { url: repo.url, err };
  } finally {
    await repo.close();
  }
}

describe("an InRelease as Debian writes it", { timeout: 60_000 }, () => {
  test("sizes right-aligned with several spaces are read", () => {
    const source: RepositorySource = {
      url: "http://mirror.invalid/debian",
      suites: [],
      components: [],
      keyring: "",
    };
    const text = `SHA256:\n ${HEX}     1234 main/binary-amd64/Packages\n ${HEX}  567890 main/binary-amd64/Packages.gz\n`;
    const release = parseRelease(text, source, "testing", HEX);
    assert.equal(release.files.get("main/binary-amd64/Packages")?.size, 1234);
    assert.equal(release.files.get("main/binary-amd64/Packages.gz")?.size, 567890);
  });
});

describe("why an InRelease was refused", { timeout: 60_000 }, () => {
  test("a Date in the future says to check this machine's clock", async () => {
    const { url, err } = await refusal({
      packages: [{ name: "app", version: "1.0" }],
      date: new Date(NOW.getTime() + 60 * 60_000),
    });
    assert.ok(isStrataError(err, "RELEASE_DATE"));
    assert.equal(
      err.message,
      `${url}/dists/testing/InRelease: dated Wed, 25 Nov 2026 13:00:00 GMT, in the future`,
    );
    assert.equal(err.hint, "check this machine's clock; a mirror cannot publish from the future");
  });

  test("a signature by a key outside the keyring says what OpenPGP found, not just that there was none", async () => {
    const { err } = await refusal({ packages: [{ name: "app", version: "1.0" }], signWithStranger: true });
    assert.ok(isStrataError(err, "SIGNATURE_INVALID"));
    assert.match(err.message, /signature check failed: .*[Kk]ey/);
    assert.doesNotMatch(err.message, /signature check failed: no signature$/);
  });
});
