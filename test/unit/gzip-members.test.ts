import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { createGunzip, gunzipSync, inflateRawSync } from "node:zlib";
import { type Compression, createCompressor, resolveCompression } from "../../src/oci/compress.js";
import { gzipMembers, LIBDEFLATE_WASM_SHA256, loadLibdeflate } from "../../src/oci/libdeflate.js";
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
 * The number of gzip members in a blob: each is a 10-byte header (libdeflate writes no optional
 * fields), a raw deflate stream whose length zlib reports, and an 8-byte trailer.
 */
function countMembers(blob: Buffer): number {
  let count = 0;
  for (let at = 0; at < blob.length; count++) {
    const { engine } = inflateRawSync(blob.subarray(at + 10), { info: true }) as unknown as {
      engine: { bytesWritten: number };
    };
    at += 10 + engine.bytesWritten + 8;
  }
  return count;
}

describe("gzip layers (libdeflate-wasm members)", { timeout: 120_000 }, () => {
  // These pin the bytes of gzip layers: any change to the .wasm, the piece size or the member framing
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
      1: "1742521 19ad9d94c1b77ecbc79856d23ba77fd428247e6c4076f15eca08426c3928dd56",
      2: "1703581 34ccf817bfd658c8d4f5554b6ee8da1e64d115987b01e249eb53b19527934139",
      9: "1578957 7f82657523076fb54aac3ac7ec5bf861369b5ba769bae5781064e8bd76cd796c",
    });
  });

  test("a layer gunzips with Node's zlib to its tar, one member per MiB, none for an empty last piece", async () => {
    const tar = await packageLikeTar();
    const blob = await compress(resolveCompression("gzip"), tar);
    assert.deepEqual(gunzipSync(blob), tar);
    const streamed: Buffer[] = [];
    for await (const chunk of Readable.from([blob]).pipe(createGunzip())) streamed.push(chunk as Buffer);
    assert.deepEqual(Buffer.concat(streamed), tar);
    const exact = tar.subarray(0, 2 * MiB);
    const twoPieces = await compress(resolveCompression("gzip"), exact);
    assert.deepEqual(gunzipSync(twoPieces), exact);
    assert.equal(countMembers(twoPieces), 2);
    assert.equal(countMembers(blob), Math.ceil(tar.length / MiB));
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

  test("an input larger than the buffer, or a level libdeflate lacks, is refused, not written past", async () => {
    const members = gzipMembers(loadLibdeflate(await readFile(WASM)), 1024);
    assert.throws(() => members.compress(2, Buffer.alloc(1025)), RangeError);
    assert.throws(
      () => members.compress(13, Buffer.alloc(10)),
      (err: unknown) => isStrataError(err, "IO"),
    );
    assert.deepEqual(gunzipSync(members.compress(2, Buffer.alloc(1024, 7))), Buffer.alloc(1024, 7));
  });

  test("buffers the 32-bit address space cannot hold are refused, not wrapped around", async () => {
    const module = loadLibdeflate(await readFile(WASM));
    assert.throws(
      () => gzipMembers(module, 0xffff_fff0),
      (err: unknown) => isStrataError(err, "IO"),
    );
  });
});
