import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { isStrataError } from "../../src/util/errors.js";
import {
  assertDigest,
  checkedDigestHex,
  checkedSha256Hex,
  SHA256_DIGEST,
  SHA256_HEX,
  verified,
} from "../../src/util/verify.js";

const HEX = "a".repeat(64);
const hexOf = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

/** Reads `stream` to its end: the bytes that came through, and the error it ended with, if any. */
async function drain(stream: Readable): Promise<{ bytes: Buffer; error?: unknown }> {
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return { bytes: Buffer.concat(chunks) };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

describe("a digest from outside is exactly sha256 and 64 lowercase hex characters", {
  timeout: 60_000,
}, () => {
  test("64 lowercase hex characters pass, with or without the sha256: prefix where each is expected", () => {
    assert.equal(checkedSha256Hex(HEX, "key"), HEX);
    assert.equal(checkedDigestHex(`sha256:${HEX}`, "digest"), HEX);
    assert.ok(SHA256_HEX.test(HEX));
    assert.ok(SHA256_DIGEST.test(`sha256:${HEX}`));
  });

  test("anything before or after the 64 characters is refused, not matched in part", () => {
    for (const text of [`x${HEX}`, `${HEX}x`, `../${HEX}`, `${HEX}/../../etc/passwd`]) {
      assert.equal(SHA256_HEX.test(text), false, text);
      assert.throws(
        () => checkedSha256Hex(text, "key"),
        (err) => isStrataError(err, "DIGEST_INVALID"),
      );
    }
    for (const text of [`xsha256:${HEX}`, `sha256:${HEX}x`, `sha256:${HEX}/..`]) {
      assert.equal(SHA256_DIGEST.test(text), false, text);
      assert.throws(
        () => checkedDigestHex(text, "digest"),
        (err) => isStrataError(err, "DIGEST_INVALID"),
      );
    }
  });

  test("a digest of another algorithm is refused even when its hex has the right length", () => {
    for (const digest of [`sha512:${HEX}`, `sha25:${HEX}`, HEX, `:${HEX}`]) {
      assert.throws(
        () => checkedDigestHex(digest, "manifest digest"),
        (err) =>
          isStrataError(err, "DIGEST_INVALID") &&
          err.message === `manifest digest: ${JSON.stringify(digest)} is not a sha256:<64 hex> digest`,
        digest,
      );
    }
  });

  test("the error quotes at most 80 characters of what it refused and says nothing was touched", () => {
    const long = `../${"x".repeat(500)}`;
    assert.throws(
      () => checkedSha256Hex(long, "cache key", "INDEX_INVALID"),
      (err) =>
        isStrataError(err, "INDEX_INVALID") &&
        err.message ===
          `cache key: ${JSON.stringify(long).slice(0, 80)} is not a sha256 (64 hex characters)` &&
        err.hint === "the source is corrupt or hostile; nothing was read or written under that name",
    );
    assert.throws(
      () => checkedDigestHex(long, "layer", "REGISTRY"),
      (err) =>
        isStrataError(err, "REGISTRY") &&
        err.message === `layer: ${JSON.stringify(long).slice(0, 80)} is not a sha256:<64 hex> digest` &&
        err.hint === "the source is corrupt or hostile; nothing was read or written under that name",
    );
  });

  test("a missing or non-string digest is the same one-line refusal, not a TypeError", () => {
    for (const value of [undefined, null, 42, { hex: HEX }]) {
      assert.throws(
        () => checkedSha256Hex(value, "key"),
        (err) => isStrataError(err, "DIGEST_INVALID") && /^key: .* is not a sha256/.test(err.message),
      );
      assert.throws(
        () => checkedDigestHex(value, "digest"),
        (err) =>
          isStrataError(err, "DIGEST_INVALID") && /^digest: .* is not a sha256:<64 hex>/.test(err.message),
      );
    }
  });
});

describe("assertDigest: the size first when it is known, then the sha256", { timeout: 60_000 }, () => {
  test("the same bytes pass", () => {
    assertDigest("blob", { hex: HEX, size: 3 }, { hex: HEX, size: 3 });
  });

  test("the right sha256 with a size other than the expected one is SIZE_MISMATCH, saying both", () => {
    assert.throws(
      () => assertDigest("blob x", { hex: HEX, size: 4 }, { hex: HEX, size: 3 }),
      (err) => isStrataError(err, "SIZE_MISMATCH") && err.message === "blob x: got 4 bytes, expected 3",
    );
  });

  test("with no expected size only the sha256 is judged", () => {
    assertDigest("blob", { hex: HEX, size: 4 }, { hex: HEX });
    assert.throws(
      () => assertDigest("blob", { hex: "b".repeat(64), size: 4 }, { hex: HEX }),
      (err) => isStrataError(err, "HASH_MISMATCH"),
    );
  });

  test("the right size with another sha256 is HASH_MISMATCH, saying both", () => {
    const other = "b".repeat(64);
    assert.throws(
      () => assertDigest("blob x", { hex: other, size: 3 }, { hex: HEX, size: 3 }),
      (err) =>
        isStrataError(err, "HASH_MISMATCH") && err.message === `blob x: sha256 is ${other}, expected ${HEX}`,
    );
  });
});

describe("verified streams judge the bytes at their end", { timeout: 60_000 }, () => {
  const bytes = Buffer.from("the bytes a digest names\n");

  test("the bytes the digest names come through whole", async () => {
    const got = await drain(verified(Readable.from([bytes]), hexOf(bytes), { size: bytes.length }));
    assert.equal(got.error, undefined);
    assert.deepEqual(got.bytes, bytes);
  });

  test("other bytes of the same size end in HASH_MISMATCH, named by the digest unless told", async () => {
    const other = Buffer.from(bytes.toString().toUpperCase());
    const expectHex = hexOf(bytes);
    const got = await drain(verified(Readable.from([other]), expectHex, { size: bytes.length }));
    assert.ok(isStrataError(got.error, "HASH_MISMATCH"));
    assert.equal(
      (got.error as Error).message,
      `sha256:${expectHex}: sha256 is ${hexOf(other)}, expected ${expectHex}`,
    );
    const named = await drain(verified(Readable.from([other]), expectHex, { what: "layer 3" }));
    assert.match((named.error as Error).message, /^layer 3: sha256 is /);
  });

  test("a stream shorter than its size ends in SIZE_MISMATCH", async () => {
    const got = await drain(verified(Readable.from([bytes]), hexOf(bytes), { size: bytes.length + 1 }));
    assert.ok(isStrataError(got.error, "SIZE_MISMATCH"));
    assert.match(
      (got.error as Error).message,
      new RegExp(`got ${bytes.length} bytes, expected ${bytes.length + 1}`),
    );
  });

  test("a stream longer than its size is cut at the chunk that passes it, before its end", async () => {
    const chunks = Array.from({ length: 10 }, () => Buffer.alloc(100, 1));
    const got = await drain(verified(Readable.from(chunks), HEX, { size: 250, what: "blob" }));
    assert.ok(isStrataError(got.error, "SIZE_MISMATCH"));
    assert.equal((got.error as Error).message, "blob: more than the expected 250 bytes");
    assert.ok(got.bytes.length <= 250, "nothing past the size reaches the reader");
  });

  test("without a size, any length whose sha256 matches passes", async () => {
    const got = await drain(verified(Readable.from([bytes, bytes]), hexOf(Buffer.concat([bytes, bytes]))));
    assert.equal(got.error, undefined);
    assert.equal(got.bytes.length, 2 * bytes.length);
  });
});
