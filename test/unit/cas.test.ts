import assert from "node:assert/strict";
import { mkdtemp, readdir, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { ContentStore } from "../../src/util/cas.js";
import { isStrataError } from "../../src/util/errors.js";
import { sha256Hex } from "../../src/util/hash.js";

async function store(): Promise<ContentStore> {
  return new ContentStore(await mkdtemp(join(tmpdir(), "strata-cas-")));
}

describe("content-addressed store", () => {
  it("stores verified bytes under their sha256 and refuses a mismatch without leaving anything", async () => {
    const s = await store();
    const bytes = Buffer.from("hello layer\n");
    await s.putVerified(Readable.from([bytes]), sha256Hex(bytes), { expectSize: bytes.length });
    assert.ok(await s.has(sha256Hex(bytes), { verify: true }));
    await assert.rejects(
      s.putVerified(Readable.from([Buffer.from("tampered")]), "0".repeat(64)),
      (err: unknown) => isStrataError(err, "HASH_MISMATCH"),
    );
    await assert.rejects(
      s.putVerified(Readable.from([bytes.subarray(0, 4)]), sha256Hex(bytes), { expectSize: bytes.length }),
      (err: unknown) => isStrataError(err, "SIZE_MISMATCH"),
    );
    assert.deepEqual(await readdir(join(s.root, "sha256")), [sha256Hex(bytes)]);
  });

  it("drops an entry whose bytes no longer match its name", async () => {
    const s = await store();
    const { hex } = await s.put(Readable.from([Buffer.from("original")]));
    await writeFile(s.path(hex), "corrupted");
    assert.equal(await s.has(hex, { verify: true }), false);
    assert.equal(await s.has(hex), false);
  });

  it("sweeps temp files a killed process left, but not fresh ones", async () => {
    const s = await store();
    await s.put(Readable.from([Buffer.from("entry")]));
    const dir = join(s.root, "sha256");
    await writeFile(join(dir, ".abc.tmp-123-old"), "partial");
    await writeFile(join(dir, ".abc.tmp-456-new"), "in progress");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(join(dir, ".abc.tmp-123-old"), twoHoursAgo, twoHoursAgo);
    assert.equal(await s.sweepStale(), 1);
    const left = await readdir(dir);
    assert.ok(left.includes(".abc.tmp-456-new"));
    assert.ok(!left.includes(".abc.tmp-123-old"));
    assert.equal(left.length, 2);
  });
});
