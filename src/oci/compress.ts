/**
 * Layer compression: gzip (the default), zstd, or none, as Transform streams.
 *
 * A layer's digest is the hash of its compressed bytes, so the compressor must give the same bytes
 * for the same tar on every machine. Node's zlib is Chromium's fork: its output differs from stock
 * zlib (measured here: deflateRaw of the same 5 MB at levels 1/6/9 hashes differently from zlib
 * 1.2.13), it changes with the Node version, and Chromium picks its match-finder hash by build and
 * CPU features. fflate is plain JavaScript pinned by package-lock, so its output depends only on its
 * version, the options and the input — which is why gzip here is fflate.
 *
 * Measured on this machine (Node 20, one core; a 29.5 MB data.tar of libperl5.36 and a 37 MB one of
 * libicu72), MB/s of input and output size as % of input:
 *
 *   libperl5.36   node:zlib          fflate (64 KiB pushes)   fflate (1 MiB pushes)
 *   level 1       121.0  26.4%       46.5  25.6%              54.5  25.6%
 *   level 2                          45.8  24.7%              49.4  24.8%
 *   level 6        47.5  23.7%       24.0  24.0%
 *   level 9         7.1  23.5%        8.1  24.0%
 *   libicu72
 *   level 1        81.8  44.0%       33.2  41.1%              38.5  41.2%
 *   level 2                                                   38.6  40.4%
 *   level 6        44.0  41.1%       17.5  39.6%
 *   level 9        14.5  41.0%        9.0  39.6%
 *
 * At equal level numbers fflate is 2-2.6x slower, but the level numbers do not mean the same thing:
 * fflate's level 2 compresses as well as node:zlib's level 6 (24.8% vs 23.7%, 40.4% vs 41.1%) at
 * 1.0-1.15x its time. At equal output size, then, determinism costs almost nothing, so gzip is fflate
 * at level 2: level 1 saves at most 10% of time for 1-3% more bytes, level 6 halves the speed for
 * ~1% fewer. Users who want speed and size pick zstd (native, ~220 MB/s at level 3).
 *
 * fflate's streaming output depends on how its input is cut into pushes, and zstd's may too, so
 * every compressor here is fed fixed 1 MiB pieces: the bytes then depend on the data alone.
 */
import { PassThrough, Transform, type TransformCallback } from "node:stream";
import type { Gzip } from "fflate";
import { StrataError } from "../util/errors.js";
import { lazyModule } from "../util/lazy.js";
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
/** fflate's memory level (its default for streams); fixed so a default change upstream cannot move bytes. */
const FFLATE_MEM = 8;

/** The native zstd binding itself: its streaming context lets us choose exactly what each call receives. */
const zstdBinding = lazyModule<typeof import("zstd-napi/binding.js")>("zstd-napi/binding.js");
const fflate = lazyModule<typeof import("fflate")>("fflate");

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
      return `gzip;fflate=${packageVersion("fflate")};level=${c.level};mem=${FFLATE_MEM};piece=${PIECE_BYTES}`;
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
      return new FflateGzipStream(c.level);
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

class FflateGzipStream extends PieceTransform {
  private readonly gzip: Gzip;

  constructor(level: number) {
    super();
    // mtime 0 and no file name keep the gzip header free of anything but the level.
    this.gzip = new (fflate().Gzip)({ level: level as Level, mem: FFLATE_MEM, mtime: 0 }, (data) => {
      this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    });
  }

  protected onPiece(bytes: Buffer, final: boolean): void {
    // fflate copies the piece into its own window buffer, so reusing `bytes` afterwards is safe.
    this.gzip.push(bytes, final);
  }
}

type Level = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

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

function packageVersion(name: string): string {
  return lazyModule<{ version: string }>(`${name}/package.json`)().version;
}
