import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { StrataError } from "../util/errors.js";

/**
 * libdeflate 1.25 compiled to WebAssembly (vendor/libdeflate, rebuilt by
 * scripts/build-libdeflate-wasm.sh): raw DEFLATE of whole pieces that chain into one stream, and CRC-32.
 *
 * Its bytes decide every gzip layer's digest, so the file is pinned by hash and refused if it differs:
 * a different .wasm could compress differently and give layers no other machine reproduces.
 */
export const LIBDEFLATE_WASM_SHA256 = "70622fbd27f56c27cd44b66c14d2a7f1641efdb2691726d1e732b6f23fa34c81";

interface Exports {
  memory: WebAssembly.Memory;
  strata_alloc(n: number): number;
  strata_deflate_bound(n: number): number;
  strata_deflate_piece(
    level: number,
    input: number,
    n: number,
    output: number,
    avail: number,
    final: number,
  ): number;
  strata_crc32(crc: number, input: number, n: number): number;
}

/** One piece's raw DEFLATE, a copy the caller keeps, and the CRC-32 so far. */
export interface DeflatedPiece {
  bytes: Buffer;
  crc: number;
}

/** Compresses pieces of at most `maxInput` bytes, each independently, into the pieces of one DEFLATE stream. */
export interface DeflatePieces {
  /**
   * `input`'s raw DEFLATE: it ends the stream if `final`, else it ends with a sync flush (byte-aligned,
   * no final block) so that the next piece's output can follow. `crc` is the CRC-32 of the stream's
   * earlier input (0 at the start); the result's is continued over `input`.
   */
  compress(level: number, input: Uint8Array, final: boolean, crc: number): DeflatedPiece;
}

/** The .wasm beside the bundle (dist/), or in vendor/ when strata runs from its sources. */
function wasmPath(): string {
  const bundled = fileURLToPath(new URL("./libdeflate.wasm", import.meta.url));
  if (existsSync(bundled)) return bundled;
  return fileURLToPath(new URL("../../vendor/libdeflate/libdeflate.wasm", import.meta.url));
}

/** Compiles the module after checking its hash against the pinned one. */
export function loadLibdeflate(bytes: Uint8Array<ArrayBuffer>): WebAssembly.Module {
  const actual = createHash("sha256").update(bytes).digest("hex");
  if (actual !== LIBDEFLATE_WASM_SHA256) {
    throw new StrataError(
      "HASH_MISMATCH",
      `libdeflate.wasm has sha256 ${actual}, not the pinned ${LIBDEFLATE_WASM_SHA256}`,
      {
        hint: "this strata installation is damaged or mixed: reinstall it (gzip layers made with another .wasm would not match other machines')",
      },
    );
  }
  return new WebAssembly.Module(bytes);
}

/** One instance with an input buffer of `maxInput` bytes and an output buffer for its worst case. */
export function deflatePieces(module: WebAssembly.Module, maxInput: number): DeflatePieces {
  const wasm = new WebAssembly.Instance(module, {}).exports as unknown as Exports;
  const avail = wasm.strata_deflate_bound(maxInput);
  const input = wasm.strata_alloc(maxInput);
  const output = wasm.strata_alloc(avail);
  if (input === 0 || output === 0)
    throw new StrataError("IO", "libdeflate.wasm could not allocate its buffers");
  return {
    compress(level, bytes, final, crc) {
      if (bytes.length > maxInput) throw new RangeError(`deflate piece ${bytes.length} > ${maxInput}`);
      new Uint8Array(wasm.memory.buffer, input, bytes.length).set(bytes);
      const n = wasm.strata_deflate_piece(level, input, bytes.length, output, avail, final ? 1 : 0);
      if (n === 0) throw new StrataError("IO", `libdeflate.wasm could not compress at level ${level}`);
      // Read the memory after the call: making a level's compressor may have grown (and detached) it.
      return {
        bytes: Buffer.from(new Uint8Array(wasm.memory.buffer, output, n)),
        // wasm's i32 comes back signed.
        crc: wasm.strata_crc32(crc, input, bytes.length) >>> 0,
      };
    },
  };
}

let shared: DeflatePieces | undefined;

/**
 * This thread's instance, made on first use (a warm build, every layer cached, never loads it) and
 * sized by that use. Streams share it safely: each call is synchronous, copies its output out and
 * keeps no stream state (the caller carries the CRC).
 */
export function sharedDeflatePieces(maxInput: number): DeflatePieces {
  shared ??= deflatePieces(loadLibdeflate(readFileSync(wasmPath())), maxInput);
  return shared;
}
