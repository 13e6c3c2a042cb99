import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { createGunzip, gunzipSync, inflateRawSync } from "node:zlib";
import { type Compression, createCompressor, resolveCompression } from "../../src/oci/compress.js";
import { deflatePieces, LIBDEFLATE_WASM_SHA256, loadLibdeflate } from "../../src/oci/libdeflate.js";
import type { TarEntry } from "../../src/oci/tar.js";
import { isStrataError } from "../../src/util/errors.js";
import { tarBytes } from "../helpers/debs.js";

const MiB = 1 << 20;
const WASM = new URL("../../vendor/libdeflate/libdeflate.wasm", import.meta.url);

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** A small deterministic generator (mulberry32), so the test data is the same everywhere. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const WORDS =
  "the of and to in is that for it as with be on not this are by or from at an which if int return static void struct char const unsigned size_t NULL".split(
    " ",
  );

/** Text like a source file or a manual page: words of a small vocabulary, lines of varied length. */
function textFile(next: () => number, bytes: number): Buffer {
  const lines: string[] = [];
  for (let n = 0; n < bytes; ) {
    const line = Array.from(
      { length: 1 + Math.floor(next() * 12) },
      () => WORDS[Math.floor(next() ** 2 * WORDS.length)],
    ).join(" ");
    lines.push(line);
    n += line.length + 1;
  }
  return Buffer.from(lines.join("\n")).subarray(0, bytes);
}

/** Bytes like machine code: small values most often, runs, and repeats of earlier stretches. */
function binaryFile(next: () => number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes);
  for (let at = 0; at < bytes; ) {
    const r = next();
    if (r < 0.1 && at > 64) {
      const from = at - 1 - Math.floor(next() * Math.min(at, 4096));
      const n = Math.min(4 + Math.floor(next() * 40), bytes - at);
      for (let i = 0; i < n; i++) b[at + i] = b[from + i];
      at += n;
    } else {
      b[at++] = r < 0.55 ? Math.floor(next() ** 3 * 256) : Math.floor(next() * 256);
    }
  }
  return b;
}

/** A ~5 MB package-like tar: directories, text files, binaries and a symlink, as strata writes them. */
async function packageLikeTar(): Promise<Buffer> {
  const next = random(19);
  const meta = { mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 };
  const members: { entry: TarEntry; body?: Buffer }[] = [
    { entry: { ...meta, path: "usr/", type: "dir", mode: 0o755 } },
    { entry: { ...meta, path: "usr/lib/", type: "dir", mode: 0o755 } },
  ];
  for (let i = 0; i < 24; i++) {
    const body =
      i % 3 === 0
        ? binaryFile(next, 150_000 + Math.floor(next() * 400_000))
        : textFile(next, 20_000 + Math.floor(next() * 200_000));
    members.push({ entry: { ...meta, path: `usr/lib/file${i}`, type: "file", size: body.length }, body });
  }
  members.push({ entry: { ...meta, path: "usr/lib/link", type: "symlink", linkname: "file0" } });
  return tarBytes(members);
}

async function compress(c: Compression, data: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const chunk of Readable.from([data]).pipe(createCompressor(c))) out.push(chunk as Buffer);
  return Buffer.concat(out);
}

/**
 * Decodes only the blob's first gzip member, as readers that ignore any later member do (Rust's
 * flate2::GzDecoder): the 10-byte header (strata writes no optional fields), then one raw DEFLATE
 * stream, which zlib decodes up to its final block and reports how many bytes that took.
 */
function firstMember(blob: Buffer): { data: Buffer; rest: number } {
  const { buffer, engine } = inflateRawSync(blob.subarray(10), { info: true }) as unknown as {
    buffer: Buffer;
    engine: { bytesWritten: number };
  };
  // What follows the DEFLATE stream: the member's 8-byte trailer, and any further members.
  return { data: buffer, rest: blob.length - 10 - engine.bytesWritten };
}

describe("gzip layers (libdeflate-wasm, one member)", { timeout: 120_000 }, () => {
  // These pin the bytes of gzip layers: any change to the .wasm, the piece size or the framing
  // fails here, and then needs a new LAYER_FORMAT_VERSION (src/layers/layer.ts).
  test("a package-like tar compresses to pinned bytes at levels 1, 2 (the default) and 9", async () => {
    const tar = await packageLikeTar();
    assert.equal(tar.length, 5_110_272);
    assert.equal(sha256(tar), "c63786b49c91087ed44ef32935ff345070474c0da4e603836a19a04213a93743");
    const digests: Record<number, string> = {};
    for (const level of [1, 2, 9]) {
      const blob = await compress(resolveCompression("gzip", level), tar);
      digests[level] = `${blob.length} ${sha256(blob)}`;
    }
    // Sizes first, so a failure shows whether the compression moved or only its bytes.
    assert.deepEqual(digests, {
      1: "1742467 a0b2f1b62694c32186957bd92ff748a98c1165fa397a4502245d13f4cccdf80c",
      2: "1703525 fbf5efa95ca1064d0351a8aa18390407ad563b92369fc7f1aadd9853a9a5e48f",
      9: "1578902 89dfe60076a9f987004caff688f19b3ce6e909b7efaa8d7254e28b41f869802a",
    });
  });

  test("a layer is one gzip member that a first-member-only reader decodes whole, at every kind of level", async () => {
    const tar = await packageLikeTar();
    // Levels 0 (stored blocks), 1 (fastest), 2 (greedy), 6 (lazy) and 9 (lazy2) end pieces differently.
    for (const level of [0, 1, 2, 6, 9]) {
      const input = level === 2 ? tar : tar.subarray(0, 3 * MiB + 12_345);
      const blob = await compress(resolveCompression("gzip", level), input);
      const first = firstMember(blob);
      assert.equal(first.rest, 8, `level ${level}: only the trailer follows the DEFLATE stream`);
      assert.ok(first.data.equals(input), `level ${level}: the first member is the whole input`);
      assert.deepEqual(gunzipSync(blob), input);
    }
  });

  test("Node's zlib gunzips a layer to its tar, streaming too, and an empty last piece still ends the stream", async () => {
    const tar = await packageLikeTar();
    const blob = await compress(resolveCompression("gzip"), tar);
    const streamed: Buffer[] = [];
    for await (const chunk of Readable.from([blob]).pipe(createGunzip())) streamed.push(chunk as Buffer);
    assert.ok(Buffer.concat(streamed).equals(tar));
    const exact = tar.subarray(0, 2 * MiB);
    const twoPieces = await compress(resolveCompression("gzip"), exact);
    assert.ok(gunzipSync(twoPieces).equals(exact));
    assert.equal(firstMember(twoPieces).rest, 8);
    // The second piece's sync flush ends 00 00 FF FF; the empty last piece is an empty final stored block.
    assert.deepEqual([...twoPieces.subarray(-17, -8)], [0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff]);
  });

  test("an empty input is one empty member", async () => {
    const blob = await compress(resolveCompression("gzip"), Buffer.alloc(0));
    assert.deepEqual(gunzipSync(blob), Buffer.alloc(0));
    assert.equal(sha256(blob), "30e6fa98fb48c2b132824d1ac5e2243c0be9e9082ff32598d34d7687ca7f6c7f");
  });

  test("a .wasm whose hash is not the pinned one is refused", async () => {
    const bytes = await readFile(WASM);
    assert.equal(sha256(bytes), LIBDEFLATE_WASM_SHA256);
    const changed = Buffer.from(bytes);
    changed[changed.length - 1] ^= 1;
    assert.throws(
      () => loadLibdeflate(changed),
      (err: unknown) => isStrataError(err, "HASH_MISMATCH"),
    );
  });

  test("a piece that is not the last ends with a sync flush, and the CRC-32 continues across pieces", async () => {
    const pieces = deflatePieces(loadLibdeflate(await readFile(WASM)), 1024);
    const head = pieces.compress(2, Buffer.from("12345"), false, 0);
    assert.deepEqual([...head.bytes.subarray(-4)], [0, 0, 0xff, 0xff]);
    const tail = pieces.compress(2, Buffer.from("6789"), true, head.crc);
    // CRC-32's check value, the CRC of "123456789".
    assert.equal(tail.crc, 0xcbf43926);
    assert.equal(inflateRawSync(Buffer.concat([head.bytes, tail.bytes])).toString(), "123456789");
  });

  test("incompressible pieces fit the output buffer, sync flush included, at every kind of level", async () => {
    // Under libdeflate's smallest block, where its bound has no slack: stored, plus the flush.
    const next = random(7);
    const noise = Buffer.from(Array.from({ length: 1000 }, () => Math.floor(next() * 256)));
    const pieces = deflatePieces(loadLibdeflate(await readFile(WASM)), noise.length);
    for (const level of [0, 1, 2, 6, 9]) {
      const head = pieces.compress(level, noise, false, 0);
      const tail = pieces.compress(level, Buffer.alloc(0), true, head.crc);
      assert.ok(inflateRawSync(Buffer.concat([head.bytes, tail.bytes])).equals(noise), `level ${level}`);
    }
  });

  test("an input larger than the buffer, or a level libdeflate lacks, is refused, not written past", async () => {
    const pieces = deflatePieces(loadLibdeflate(await readFile(WASM)), 1024);
    assert.throws(() => pieces.compress(2, Buffer.alloc(1025), true, 0), RangeError);
    assert.throws(
      () => pieces.compress(13, Buffer.alloc(10), true, 0),
      (err: unknown) => isStrataError(err, "IO"),
    );
    assert.deepEqual(
      inflateRawSync(pieces.compress(2, Buffer.alloc(1024, 7), true, 0).bytes),
      Buffer.alloc(1024, 7),
    );
  });

  test("buffers the 32-bit address space cannot hold are refused, not wrapped around", async () => {
    const module = loadLibdeflate(await readFile(WASM));
    assert.throws(
      () => deflatePieces(module, 0xffff_fff0),
      (err: unknown) => isStrataError(err, "IO"),
    );
  });
});
