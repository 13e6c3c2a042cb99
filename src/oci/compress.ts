/**
 * Layer compression: gzip (the default), zstd, or none, as Transform streams.
 *
 * A layer's digest is the hash of its compressed bytes, so the compressor must give the same bytes
 * for the same tar on every machine. Node's zlib is Chromium's fork: its output differs from stock
 * zlib, changes with the Node version, and Chromium picks its match-finder hash by build and CPU
 * features. gzip here is therefore libdeflate 1.25 compiled to WebAssembly without SIMD
 * (src/oci/libdeflate.ts): WebAssembly has no CPU-dependent paths, and the .wasm is pinned by hash,
 * so the bytes depend only on that file, the level and the input. (Checked: the same bytes from
 * builds at -O2 and -O3, with 32- or 64-bit words, with and without bulk memory, and from a native
 * x86-64 gcc build of the same source.)
 *
 * Until layer format 5 gzip was fflate (pure JS, level 2). Measured 2026-12-08: Node 20, one thread,
 * USER CPU seconds (best of 3) on a shared 2-core machine under load, so read them as ±10%; 1 MiB
 * pieces for both; data.tar of Debian 12 packages. MB/s of input, output size as % of input:
 *
 *   data.tar (MB)          fflate 2      libdeflate 1   libdeflate 2   libdeflate 4   libdeflate 6
 *   libperl5.36 (29.5)     48.6 24.77%   199.1 25.36%   139.9 24.51%   121.0 23.98%   74.5 23.22%
 *   libicu72 (37.0)        38.8 40.41%   146.6 43.17%   101.5 39.64%    83.7 39.14%   63.9 38.47%
 *   libpython3.11 (7.8)    35.6 35.10%   141.6 37.02%    99.1 34.63%    89.8 34.19%   60.9 33.28%
 *   python3.11 stdlib (8.6) 41.4 29.79%  168.1 30.58%   110.1 29.35%    90.6 28.61%   62.4 27.76%
 *
 * libdeflate's level 2 is 2.6-2.9x as fast as fflate's level 2 with 0.1-0.8 points smaller output,
 * so the default stays 2; level 1 is ~4x but 0.6-2.8 points bigger. (Sizes are of one gzip member
 * per layer, re-measured when pieces stopped being members; the speed did not move.)
 *
 * libdeflate compresses whole buffers only, so each 1 MiB piece is compressed on its own (the bytes
 * depend only on the data, not on how it arrives), but a layer is still ONE gzip member holding ONE
 * DEFLATE stream: a piece that is not the last ends with a sync flush (an empty stored block, as
 * zlib's Z_SYNC_FLUSH) instead of a final block, so the next piece follows byte-aligned. Several
 * members would be valid RFC 1952, but some readers (Rust's flate2::GzDecoder, others) stop after
 * the first and silently return a truncated layer. It costs ~5 bytes and a fresh 32 KiB window per MiB.
 * zstd's streaming output may depend on how its input is cut, so it is fed the same fixed pieces.
 */
import { PassThrough, Transform, type TransformCallback } from "node:stream";
import { StrataError } from "../util/errors.js";
import { lazyModule } from "../util/lazy.js";
import { LIBDEFLATE_WASM_SHA256, sharedDeflatePieces } from "./libdeflate.js";
import { MediaType } from "./types.js";

export type CompressionAlgorithm = "gzip" | "zstd" | "none";

/** A resolved compression choice; plain data, so it can cross into a worker thread. */
export interface Compression {
  algorithm: CompressionAlgorithm;
  /** gzip 0-9, zstd 1-19; 0 for none. */
  level: number;
}

export const DEFAULT_GZIP_LEVEL = 2;
export const DEFAULT_ZSTD_LEVEL = 3;

/** The size of each piece fed to a compressor; part of the output's identity. */
const PIECE_BYTES = 1 << 20;

/** The native zstd binding itself: its streaming context lets us choose exactly what each call receives. */
const zstdBinding = lazyModule<typeof import("zstd-napi/binding.js")>("zstd-napi/binding.js");

/** Fills in the default level and checks the range. */
export function resolveCompression(algorithm: CompressionAlgorithm = "gzip", level?: number): Compression {
  switch (algorithm) {
    case "none":
      return { algorithm, level: 0 };
    case "gzip":
      return { algorithm, level: checkLevel(algorithm, level ?? DEFAULT_GZIP_LEVEL, 0, 9) };
    case "zstd":
      return { algorithm, level: checkLevel(algorithm, level ?? DEFAULT_ZSTD_LEVEL, 1, 19) };
    default:
      throw new StrataError("USAGE", `unknown compression "${algorithm as string}" (gzip, zstd or none)`);
  }
}

/**
 * Names everything that decides the compressed bytes: algorithm, implementation and its version,
 * level and the fixed options. Part of the layer cache key; two machines with equal identities
 * produce equal blobs.
 */
export function compressionIdentity(c: Compression): string {
  switch (c.algorithm) {
    case "none":
      return "none";
    case "gzip":
      return `gzip;libdeflate-wasm=${LIBDEFLATE_WASM_SHA256};level=${c.level};pieces=${PIECE_BYTES}`;
    case "zstd":
      return `zstd;libzstd=${zstdBinding().versionString()};level=${c.level};piece=${PIECE_BYTES}`;
  }
}

export function layerMediaType(c: Compression): string {
  switch (c.algorithm) {
    case "none":
      return MediaType.ociLayerTar;
    case "gzip":
      return MediaType.ociLayerGzip;
    case "zstd":
      return MediaType.ociLayerZstd;
  }
}

/** A Transform from tar bytes to compressed bytes. */
export function createCompressor(c: Compression): Transform {
  switch (c.algorithm) {
    case "none":
      return new PassThrough();
    case "gzip":
      return new GzipStream(c.level);
    case "zstd":
      return new ZstdStream(c.level);
  }
}

function checkLevel(algorithm: string, level: number, min: number, max: number): number {
  if (!Number.isInteger(level) || level < min || level > max) {
    throw new StrataError("USAGE", `${algorithm} level ${level} is out of range (${min}-${max})`);
  }
  return level;
}

/** Cuts a stream into fixed-size pieces (the last one shorter), whatever the incoming chunking. */
abstract class PieceTransform extends Transform {
  private readonly pending = Buffer.allocUnsafe(PIECE_BYTES);
  private filled = 0;

  /** Receives each piece; `bytes` is reused afterwards, so keep a copy. */
  protected abstract onPiece(bytes: Buffer, final: boolean): void;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      let at = 0;
      while (at < chunk.length) {
        const n = Math.min(PIECE_BYTES - this.filled, chunk.length - at);
        chunk.copy(this.pending, this.filled, at, at + n);
        this.filled += n;
        at += n;
        if (this.filled === PIECE_BYTES) {
          this.onPiece(this.pending, false);
          this.filled = 0;
        }
      }
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.onPiece(this.pending.subarray(0, this.filled), true);
      done();
    } catch (err) {
      done(err as Error);
    }
  }
}

/**
 * gzip's 10-byte header: no name, MTIME 0, XFL from the level and OS "unknown", the bytes libdeflate's
 * own gzip wrapper writes (so an empty layer's bytes did not move when the pieces became one member).
 */
function gzipHeader(level: number): Buffer {
  const xfl = level < 2 ? 4 : level >= 8 ? 2 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 0xff]);
}

/** gzip as one member: the header, each piece's DEFLATE (one stream), then CRC-32 and size mod 2^32. */
class GzipStream extends PieceTransform {
  private started = false;
  private crc = 0;
  private size = 0;

  constructor(private readonly level: number) {
    super();
  }

  protected onPiece(bytes: Buffer, final: boolean): void {
    if (!this.started) this.push(gzipHeader(this.level));
    this.started = true;
    const piece = sharedDeflatePieces(PIECE_BYTES).compress(this.level, bytes, final, this.crc);
    this.crc = piece.crc;
    this.size += bytes.length;
    this.push(piece.bytes);
    if (!final) return;
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.crc, 0);
    trailer.writeUInt32LE(this.size % 2 ** 32, 4);
    this.push(trailer);
  }
}

/**
 * zstd through the binding's streaming context, fed whole pieces. Single-threaded (libzstd's default,
 * nbWorkers 0): multi-threaded frames differ from single-threaded ones. No checksum, no dictionary.
 */
class ZstdStream extends PieceTransform {
  private readonly cctx: InstanceType<typeof import("zstd-napi/binding.js")["CCtx"]>;
  private out: Buffer;

  constructor(level: number) {
    super();
    this.cctx = new (zstdBinding().CCtx)();
    this.cctx.setParameter(zstdBinding().CParameter.compressionLevel, level);
    this.out = Buffer.allocUnsafe(zstdBinding().cStreamOutSize());
  }

  protected onPiece(bytes: Buffer, final: boolean): void {
    const directive = final ? zstdBinding().EndDirective.end : zstdBinding().EndDirective.continue;
    let input = bytes;
    for (;;) {
      const [remaining, produced, consumed] = this.cctx.compressStream2(this.out, input, directive);
      if (produced > 0) {
        this.push(this.out.subarray(0, produced));
        this.out = Buffer.allocUnsafe(this.out.length);
      }
      input = input.subarray(consumed);
      if (input.length === 0 && (!final || remaining === 0)) return;
    }
  }
}
