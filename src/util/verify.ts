import { createHash } from "node:crypto";
import { pipeline, type Readable, Transform, type TransformCallback } from "node:stream";
import { type ErrorCode, StrataError } from "./errors.js";

/** A sha256 as strata names content: exactly 64 lowercase hex characters. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;
/** An OCI digest strata accepts: `sha256:` and a SHA256_HEX. */
export const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * `hex` if it is a sha256 as strata names content (exactly 64 lowercase hex characters), else
 * `code` (DIGEST_INVALID by default). Every digest from a mirror, a lock or a registry passes here
 * before it reaches a file path or a URL, so `../../etc/passwd` can never be a cache key.
 */
export function checkedSha256Hex(hex: unknown, what: string, code: ErrorCode = "DIGEST_INVALID"): string {
  if (typeof hex === "string" && SHA256_HEX.test(hex)) return hex;
  throw new StrataError(
    code,
    `${what}: ${JSON.stringify(hex)?.slice(0, 80)} is not a sha256 (64 hex characters)`,
    {
      hint: "the source is corrupt or hostile; nothing was read or written under that name",
    },
  );
}

/** The hex of an OCI digest `sha256:<64 hex>`, or `code` when it is anything else. */
export function checkedDigestHex(digest: unknown, what: string, code: ErrorCode = "DIGEST_INVALID"): string {
  if (typeof digest === "string" && digest.startsWith("sha256:"))
    return checkedSha256Hex(digest.slice(7), what, code);
  throw new StrataError(
    code,
    `${what}: ${JSON.stringify(digest)?.slice(0, 80)} is not a sha256:<64 hex> digest`,
    {
      hint: "the source is corrupt or hostile; nothing was read or written under that name",
    },
  );
}

/** What some bytes turned out to be, and what they were supposed to be. */
export interface DigestCheck {
  hex: string;
  size: number;
}

/**
 * The one judgement every verifier makes: SIZE_MISMATCH when the size is known and differs, else
 * HASH_MISMATCH when the sha256 differs. `what` names the bytes in the message.
 */
export function assertDigest(what: string, got: DigestCheck, expect: { hex: string; size?: number }): void {
  if (expect.size !== undefined && got.size !== expect.size) {
    throw new StrataError("SIZE_MISMATCH", `${what}: got ${got.size} bytes, expected ${expect.size}`);
  }
  if (got.hex !== expect.hex) {
    throw new StrataError("HASH_MISMATCH", `${what}: sha256 is ${got.hex}, expected ${expect.hex}`);
  }
}

/**
 * A pass-through stream that hashes what flows through it and, when the stream ends, fails with
 * HASH_MISMATCH (or SIZE_MISMATCH) unless the bytes have the expected sha256 (and size). A reader
 * that stops early never sees an error: only a blob read to its end can be judged.
 */
export function verifyingStream(expectHex: string, opts: { size?: number; what?: string } = {}): Transform {
  const hash = createHash("sha256");
  let seen = 0;
  const what = opts.what ?? `sha256:${expectHex}`;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      hash.update(chunk);
      seen += chunk.length;
      if (opts.size !== undefined && seen > opts.size) {
        done(new StrataError("SIZE_MISMATCH", `${what}: more than the expected ${opts.size} bytes`));
        return;
      }
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      try {
        assertDigest(what, { hex: hash.digest("hex"), size: seen }, { hex: expectHex, size: opts.size });
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}

/**
 * `source` seen through a verifyingStream. Uses `pipeline` rather than `pipe` so that a failure on
 * either side reaches whoever reads the result, and closes the source when the reader stops early.
 */
export function verified(
  source: Readable,
  expectHex: string,
  opts: { size?: number; what?: string } = {},
): Readable {
  return pipeline(source, verifyingStream(expectHex, opts), () => {
    // Errors reach the reader through the returned stream.
  });
}
