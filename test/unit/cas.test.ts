import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rename, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { ContentStore, cacheStore } from "../../src/util/cas.js";
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

  it("a sealed store does not hash again an entry it wrote and that is unchanged since", async () => {
    const s = cacheStore(await mkdtemp(join(tmpdir(), "strata-cas-")));
    const { hex } = await s.put(Readable.from([Buffer.from("original")]));
    // A whole second (utimes cannot set nanoseconds back), sealed anew by a verified read; then the
    // same size written in place and that time put back: only a read that was skipped can miss it.
    const second = new Date(1_700_000_000_000);
    await utimes(s.path(hex), second, second);
    assert.equal(await s.has(hex, { verify: true }), true);
    await writeFile(s.path(hex), "Original");
    await utimes(s.path(hex), second, second);
    assert.equal(await s.has(hex, { verify: true }), true);
    assert.equal(await new ContentStore(s.root).has(hex, { verify: true }), false);
  });

  it("a sealed store hashes an entry written in place or renamed over since it was sealed, and drops it", async () => {
    const s = cacheStore(await mkdtemp(join(tmpdir(), "strata-cas-")));
    const written = await s.put(Readable.from([Buffer.from("first entry")]));
    await new Promise((r) => setTimeout(r, 20));
    await writeFile(s.path(written.hex), "first Entry");
    assert.equal(await s.has(written.hex, { verify: true }), false);
    assert.deepEqual(await readdir(join(s.root, "seals")), []);

    const renamed = await s.put(Readable.from([Buffer.from("second entry")]));
    const second = new Date(1_700_000_000_000);
    await utimes(s.path(renamed.hex), second, second);
    assert.equal(await s.has(renamed.hex, { verify: true }), true);
    const other = join(s.root, "other");
    await writeFile(other, "second Entry");
    await utimes(other, second, second);
    await rename(other, s.path(renamed.hex));
    assert.equal(await s.has(renamed.hex, { verify: true }), false);
  });

  it("a sealed store seals an entry it hashed, so the next verified read trusts it", async () => {
    const s = cacheStore(await mkdtemp(join(tmpdir(), "strata-cas-")));
    const bytes = Buffer.from("placed by someone else");
    const unsealed = new ContentStore(s.root);
    const { hex } = await unsealed.put(Readable.from([bytes]));
    assert.deepEqual(await readdir(s.root), ["sha256"]);
    assert.equal(await s.has(hex, { verify: true }), true);
    assert.deepEqual(await readdir(join(s.root, "seals")), [hex]);
  });

  it("sweeps temp files a killed process left (entries and seals), but not fresh ones", async () => {
    const s = await store();
    await s.put(Readable.from([Buffer.from("entry")]));
    const dir = join(s.root, "sha256");
    await writeFile(join(dir, ".abc.tmp-123-old"), "partial");
    await writeFile(join(dir, ".abc.tmp-456-new"), "in progress");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await utimes(join(dir, ".abc.tmp-123-old"), twoHoursAgo, twoHoursAgo);
    await mkdir(join(s.root, "seals"), { recursive: true });
    await writeFile(join(s.root, "seals", ".abc.tmp-789-old"), "partial seal");
    await utimes(join(s.root, "seals", ".abc.tmp-789-old"), twoHoursAgo, twoHoursAgo);
    assert.equal(await s.sweepStale(), 2);
    assert.deepEqual(await readdir(join(s.root, "seals")), []);
    const left = await readdir(dir);
    assert.ok(left.includes(".abc.tmp-456-new"));
    assert.ok(!left.includes(".abc.tmp-123-old"));
    assert.equal(left.length, 2);
  });
});
