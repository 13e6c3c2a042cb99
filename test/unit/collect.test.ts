import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { collectAtMost } from "../../src/util/collect.js";

describe("collecting a stream up to a bound", { timeout: 30_000 }, () => {
  test("gives the bytes of a stream within the bound, whole and in order", async () => {
    const source = Readable.from([Buffer.from("pod"), new Uint8Array([0x2d]), Buffer.from("list")]);
    assert.equal((await collectAtMost(source, 8, () => new Error("too long"))).toString(), "pod-list");
  });

  test("refuses the first byte past the bound and stops reading (the stream is destroyed)", async () => {
    let read = 0;
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < 1000; i++) {
          read++;
          yield Buffer.alloc(1024);
        }
      })(),
    );
    await assert.rejects(
      collectAtMost(source, 4096, () => new Error("more than 4096 bytes")),
      /more than 4096 bytes/,
    );
    assert.ok(read < 1000, `read ${read} chunks of 1000`);
    assert.ok(source.destroyed);
  });
});
