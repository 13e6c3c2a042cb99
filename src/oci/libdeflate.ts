import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { StrataError } from "../util/errors.js";

/**
 * libdeflate 1.25 compiled to WebAssembly (vendor/libdeflate, rebuilt by
 * scripts/build-libdeflate-wasm.sh): whole-buffer gzip, one member per call.
 *
 * Its bytes decide every gzip layer's digest, so the file is pinned by hash and refused if it differs:
 * a different .wasm could compress differently and give layers no other machine reproduces.
 */
export const LIBDEFLATE_WASM_SHA256 = "2cfad8bc8b3816f450293f4092dcc5ff6d0b0986b4b2d41e7af2ea0f71d375fd";

interface Exports {
  memory: WebAssembly.Memory;
  strata_alloc(n: number): number;
  strata_gzip_bound(n: number): number;
  strata_gzip(level: number, input: number, n: number, output: number, avail: number): number;
}

/** Compresses whole buffers of at most `maxInput` bytes, each into one complete gzip member. */
export interface GzipMembers {
  /** The member's bytes, a copy the caller keeps. */
  compress(level: number, input: Uint8Array): Buffer;
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
export function gzipMembers(module: WebAssembly.Module, maxInput: number): GzipMembers {
  const wasm = new WebAssembly.Instance(module, {}).exports as unknown as Exports;
  const avail = wasm.strata_gzip_bound(maxInput);
  const input = wasm.strata_alloc(maxInput);
  const output = wasm.strata_alloc(avail);
  if (input === 0 || output === 0)
    throw new StrataError("IO", "libdeflate.wasm could not allocate its buffers");
  return {
    compress(level, bytes) {
      if (bytes.length > maxInput) throw new RangeError(`gzip member input ${bytes.length} > ${maxInput}`);
      new Uint8Array(wasm.memory.buffer, input, bytes.length).set(bytes);
      const n = wasm.strata_gzip(level, input, bytes.length, output, avail);
      if (n === 0) throw new StrataError("IO", `libdeflate.wasm could not compress at level ${level}`);
      // Read the memory after the call: making a level's compressor may have grown (and detached) it.
      return Buffer.from(new Uint8Array(wasm.memory.buffer, output, n));
    },
  };
}

let shared: GzipMembers | undefined;

/**
 * This thread's instance, made on first use (a warm build, every layer cached, never loads it) and
 * sized by that use. Streams share it safely: each call is synchronous and copies its output out.
 */
export function sharedGzipMembers(maxInput: number): GzipMembers {
  shared ??= gzipMembers(loadLibdeflate(readFileSync(wasmPath())), maxInput);
  return shared;
}
