import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { openDeb } from "../../src/debian/deb.js";
import { isStrataError } from "../../src/util/errors.js";
import { xzDeclaredSize } from "../../src/util/xz-index.js";
import { arArchive, craftedControl, looseTar, tempDir } from "../helpers/debs.js";

function xz(data: Buffer, ...args: string[]): Buffer {
  return execFileSync("xz", ["-c", "-T1", ...args], { input: data, maxBuffer: 1 << 28 });
}

/** Pseudo-random bytes that xz cannot shrink much, so several blocks are really written. */
function noise(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** xz children of this process still running (Linux; an exited child not yet reaped is not counted). */
async function runningXz(): Promise<string[]> {
  const running: string[] = [];
  for (const task of await readdir(`/proc/${process.pid}/task`)) {
    const text = await readFile(`/proc/${process.pid}/task/${task}/children`, "utf8").catch(() => "");
    for (const pid of text.trim().split(/\s+/).filter(Boolean)) {
      const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
      if (/^\d+ \(xz\) [^Z]/.test(stat)) running.push(pid);
    }
  }
  return running;
}

/** True once no xz child runs, within 10 s (a loaded machine is slow to schedule a killed child). */
async function noXzLeft(): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    if ((await runningXz()).length === 0) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

async function xzDeb(dir: string, name: string, controlXz?: Buffer): Promise<string> {
  const controlTar = await looseTar([
    { name: "./", type: "directory" },
    { name: "./control", body: craftedControl(name) },
    { name: "./postinst", body: "#!/bin/sh\nexit 0\n", mode: 0o755 },
  ]);
  const dataTar = await looseTar([
    { name: "./", type: "directory" },
    { name: "./usr/", type: "directory" },
    ...Array.from({ length: 40 }, (_, i) => ({ name: `./usr/f${i}`, body: noise(5000 + i * 997, i + 1) })),
  ]);
  const path = join(dir, `${name}.deb`);
  await writeFile(
    path,
    arArchive([
      { name: "debian-binary", body: Buffer.from("2.0\n") },
      { name: "control.tar.xz", body: controlXz ?? xz(controlTar) },
      { name: "data.tar.xz", body: xz(dataTar, "--block-size=65536") },
    ]),
  );
  return path;
}

async function readAll(path: string, readOnce: boolean) {
  const deb = await openDeb(path, { readOnce });
  try {
    const entries: [string, string][] = [];
    for await (const { header, body } of deb.dataEntries()) {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk);
      entries.push([header.name, Buffer.concat(chunks).toString("base64")]);
    }
    return { control: deb.control, entries };
  } finally {
    deb.close();
  }
}

describe("the uncompressed size an .xz declares", { timeout: 60_000 }, () => {
  test("is what xz -dc writes: one stream, many blocks, and streams concatenated with padding", () => {
    const one = noise(300_000);
    const two = noise(70_000, 7);
    assert.equal(xzDeclaredSize(xz(one)), one.length);
    assert.equal(xzDeclaredSize(xz(one, "--block-size=20000")), one.length);
    const padded = Buffer.concat([xz(one), Buffer.alloc(8), xz(two), Buffer.alloc(4)]);
    assert.equal(xzDeclaredSize(padded), one.length + two.length);
    assert.equal(execFileSync("xz", ["-dc"], { input: padded, maxBuffer: 1 << 24 }).length, 370_000);
    assert.equal(xzDeclaredSize(xz(Buffer.alloc(0))), 0);
  });

  test("is unknown for what is not a whole .xz: cut, garbage, zeros, an empty file", () => {
    const file = xz(noise(50_000));
    assert.equal(xzDeclaredSize(file.subarray(0, file.length - 1)), undefined);
    assert.equal(xzDeclaredSize(file.subarray(1)), undefined);
    assert.equal(xzDeclaredSize(Buffer.concat([Buffer.from("junk"), file])), undefined);
    assert.equal(xzDeclaredSize(noise(4096, 3)), undefined);
    assert.equal(xzDeclaredSize(Buffer.alloc(64)), undefined);
    assert.equal(xzDeclaredSize(Buffer.alloc(0)), undefined);
    const badBackwardSize = Buffer.from(file);
    badBackwardSize.writeUInt32LE(0xffffff, file.length - 8);
    assert.equal(xzDeclaredSize(badBackwardSize), undefined);
  });
});

describe("a .deb read once through one xz child", { timeout: 60_000 }, () => {
  test("gives the control and every data.tar entry, byte for byte, as two decoders do", async () => {
    const path = await xzDeb(await tempDir("shared-xz"), "shared");
    const once = await readAll(path, true);
    assert.deepEqual(once, await readAll(path, false));
    assert.match(once.control.control, /^Package: shared\n/);
    assert.equal(once.entries.length, 42);
    assert.ok(await noXzLeft(), "no xz child is left running");
  });

  test("ends its xz child when closed before data.tar is read, or when the reader stops early", async () => {
    const path = await xzDeb(await tempDir("shared-xz"), "closed");
    const unread = await openDeb(path, { readOnce: true });
    try {
      assert.equal((await runningXz()).length, 1, "the child waits with data.tar");
    } finally {
      unread.close();
    }
    assert.ok(await noXzLeft(), "close() ended it");

    const stopped = await openDeb(path, { readOnce: true });
    for await (const { header } of stopped.dataEntries()) if (header.name === "./usr/f3") break;
    assert.ok(await noXzLeft(), "leaving the loop ended it");
  });

  test("a control.tar.xz whose index declares a wrong size is DEB_INVALID, never a misplaced cut", async () => {
    const dir = await tempDir("shared-xz");
    const controlTar = await looseTar([{ name: "./control", body: craftedControl("liar") }]);
    // Declaring 100 bytes of a 1 KiB tar would cut it mid-header, and hand the rest to data.tar.
    const path = await xzDeb(dir, "liar", lyingIndex(xz(controlTar)));
    await assert.rejects(readAll(path, true), (err: unknown) => isStrataError(err, "DEB_INVALID"));
    assert.ok(await noXzLeft());
  });

  test("a control.tar.xz holding a second tar its index hides is refused: none of it reaches data.tar", async () => {
    const dir = await tempDir("shared-xz");
    const controlTar = await looseTar([{ name: "./control", body: craftedControl("smuggler") }]);
    const smuggled = await looseTar([
      { name: "./usr/", type: "directory" },
      { name: "./usr/bin/smuggled", body: "#!/bin/sh\n", mode: 0o755 },
    ]);
    const control = lyingIndex(xz(Buffer.concat([controlTar, smuggled])), controlTar.length);
    const path = await xzDeb(dir, "smuggler", control);
    // Its entries may stream before xz's refusal at the end: the read fails, so no layer is made of them.
    await assert.rejects(readAll(path, true), (err: unknown) => isStrataError(err, "DEB_INVALID"));
    assert.ok(await noXzLeft());
  });

  for (const readOnce of [false, true]) {
    test(`a data.tar.xz xz refuses at its end (empty, .lzma, truncated) fails the read (readOnce: ${readOnce})`, async () => {
      const dir = await tempDir("shared-xz");
      const dataTar = await looseTar([
        { name: "./usr/", type: "directory" },
        { name: "./usr/x", body: "x\n" },
      ]);
      const whole = xz(dataTar);
      const lzma = execFileSync("xz", ["-c", "--format=lzma"], { input: dataTar });
      for (const [name, data] of [
        ["empty", Buffer.alloc(0)],
        ["lzma", lzma],
        ["truncated", whole.subarray(0, whole.length - 20)],
      ] as const) {
        const controlTar = await looseTar([{ name: "./control", body: craftedControl(name) }]);
        const path = join(dir, `${name}.deb`);
        await writeFile(
          path,
          arArchive([
            { name: "debian-binary", body: Buffer.from("2.0\n") },
            { name: "control.tar.xz", body: xz(controlTar) },
            { name: "data.tar.xz", body: data },
          ]),
        );
        await assert.rejects(
          readAll(path, readOnce),
          (err: unknown) => isStrataError(err, "DEB_INVALID"),
          name,
        );
      }
      assert.ok(await noXzLeft());
    });
  }
});

function varint(n: number): Buffer {
  const out: number[] = [];
  let rest = n;
  do {
    let byte = rest & 0x7f;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    out.push(byte);
  } while (rest > 0);
  return Buffer.from(out);
}

/**
 * The same one-block .xz with its index saying the block holds 100 bytes, every CRC and size field
 * made right again: a lie only the decoder can catch.
 */
function lyingIndex(file: Buffer, declared = 100): Buffer {
  const out = Buffer.from(file);
  const footer = out.length - 12;
  const index = footer - (out.readUInt32LE(footer + 4) + 1) * 4;
  const records = out.subarray(index, footer - 4);
  // indicator, count, unpadded varint, uncompressed varint: rebuild with 100 and re-pad.
  let at = 2;
  while (records[at] & 0x80) at++;
  const unpadded = records.subarray(2, at + 1);
  const body = Buffer.concat([Buffer.from([0x00, 0x01]), unpadded, varint(declared)]);
  const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
  const newIndex = Buffer.concat([padded, Buffer.alloc(4)]);
  newIndex.writeUInt32LE(crc32(padded), padded.length);
  const streamFooter = Buffer.from(out.subarray(footer));
  streamFooter.writeUInt32LE(newIndex.length / 4 - 1, 4);
  streamFooter.writeUInt32LE(crc32(streamFooter.subarray(4, 10)), 0);
  return Buffer.concat([out.subarray(0, index), newIndex, streamFooter]);
}
