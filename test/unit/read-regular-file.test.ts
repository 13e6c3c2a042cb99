import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readRegularFile, readRegularFileSync } from "../../src/util/fs.js";

const readers = [
  ["readRegularFile", (path: string, max: number) => readRegularFile(path, max)],
  ["readRegularFileSync", async (path: string, max: number) => readRegularFileSync(path, max)],
] as const;

describe("reading a bounded regular file", { timeout: 30_000 }, () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "strata-read-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const [name, read] of readers) {
    it(`${name}: returns a small file's bytes whole under a bound of megabytes`, async () => {
      const path = join(dir, "small");
      await writeFile(path, "hello");
      assert.equal((await read(path, 64 << 20)).toString(), "hello");
    });

    it(`${name}: returns a file exactly at the bound and refuses one byte more`, async () => {
      const path = join(dir, "edge");
      await writeFile(path, Buffer.alloc(100, 1));
      assert.equal((await read(path, 100)).length, 100);
      await assert.rejects(read(path, 99), /100 bytes, more than 99/);
    });

    it(`${name}: reads a file whose size stat does not know (procfs), growing its buffer`, async () => {
      const bytes = await read("/proc/self/status", 1 << 20);
      assert.match(bytes.toString(), /^Name:/);
      assert.ok(bytes.length > 100);
    });

    it(`${name}: stops a file that grows past the bound after stat`, async () => {
      await assert.rejects(read("/proc/self/status", 50), /more than 50 bytes/);
    });

    it(`${name}: refuses a FIFO and a directory without blocking`, async () => {
      const fifo = join(dir, `fifo-${name}`);
      execFileSync("mkfifo", [fifo]);
      await assert.rejects(read(fifo, 1024), /not a regular file/);
      await assert.rejects(read(dir, 1024), /not a regular file/);
    });
  }
});
