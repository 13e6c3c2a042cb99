import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildProfileMarkdown, type CpuProfile, phaseTimes } from "../../bench/build-profile.js";

/** A profile of one thread: root → run → (a libdeflate wasm function | a strata function | idle | GC). */
function profile(): CpuProfile {
  const frame = (functionName: string, url = "") => ({ functionName, url });
  return {
    nodes: [
      { id: 1, callFrame: frame("(root)"), children: [2, 5, 6] },
      { id: 2, callFrame: frame("writeLayer", "file:///x/dist/layer-worker.js"), children: [3, 4] },
      { id: 3, callFrame: frame("wasm-function[3]", "wasm://wasm/00033df6") },
      { id: 4, callFrame: frame("ustarBlock", "file:///x/dist/layer-worker.js"), children: [7] },
      { id: 5, callFrame: frame("(idle)") },
      { id: 6, callFrame: frame("(garbage collector)") },
      { id: 7, callFrame: frame("FastBuffer", "node:internal/buffer") },
    ],
    samples: [3, 3, 4, 5, 6, 2, 7],
    timeDeltas: [1000, 1000, 500, 9000, 250, 125, 50],
  };
}

describe("the cold build's CPU profile summary", { timeout: 10_000 }, () => {
  test("puts each sample in the phase of its innermost known frame, leaving idle time out", () => {
    const phases = phaseTimes(profile());
    assert.deepEqual(Object.fromEntries(phases), {
      "gzip (libdeflate wasm)": 2000,
      "canonical tar write": 500,
      "garbage collection": 250,
      other: 125,
      "streams and buffers (node)": 50,
    });
  });

  test("reports seconds, shares and milliseconds per MB of tar, with the whole tree's CPU", () => {
    const md = buildProfileMarkdown(
      {
        tree: { user: 3, system: 1, wall: 2.5 },
        node: { user: 2.5, system: 0.5 },
        phases: new Map([
          ["gzip (libdeflate wasm)", 1.5],
          ["other", 0.5],
        ]),
        threads: new Map([["main", 2]]),
      },
      50e6,
    );
    assert.match(md, /whole process tree 4\.00 s CPU \(user 3\.00 s, system 1\.00 s/);
    assert.match(md, /\| gzip \(libdeflate wasm\) \| 1\.50 \| 75 % \| 30\.0 ms \|/);
    assert.match(md, /\| xz children \(ar member decoding; tree less node\) \| 1\.00 \| \| 20\.0 ms \|/);
    assert.match(md, /\| whole process tree \(\/usr\/bin\/time\) \| 4\.00 \| \| 80\.0 ms \|/);
  });
});
