import assert from "node:assert/strict";
import { lstat, readFile, readlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { describe, test } from "node:test";
import tarStream from "tar-stream";
import { TAR_END, type TarEntry, TarWriter, tarHeader, tarPadding } from "../../src/oci/tar.js";
import { run, tarBytes, tempDir } from "../helpers/debs.js";

const longDir = `${"d".repeat(60)}/${"e".repeat(60)}/${"f".repeat(60)}`; // splits into ustar prefix+name
const unsplittable = `${"x".repeat(120)}/${"y".repeat(120)}`; // name part > 100: needs PAX
const unicode = "usr/share/zoneinfo/Amérique/Zürich-日本";
const longTarget = `../${"t".repeat(150)}`;

function fileEntry(path: string, body: string, extra: Partial<TarEntry> = {}) {
  const bytes = Buffer.from(body);
  return {
    entry: {
      path,
      type: "file" as const,
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 1700000000,
      size: bytes.length,
      ...extra,
    },
    body: bytes,
  };
}

const sample = [
  { entry: { path: "a", type: "dir" as const, mode: 0o40755, uid: 0, gid: 0, mtime: 1700000000 } },
  fileEntry("a/file.txt", "hello\n"),
  {
    entry: {
      path: "a/hard",
      type: "hardlink" as const,
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 1700000000,
      linkname: "a/file.txt",
    },
  },
  {
    entry: {
      path: "a/sym",
      type: "symlink" as const,
      mode: 0o777,
      uid: 0,
      gid: 0,
      mtime: 1700000000,
      linkname: "file.txt",
    },
  },
  { entry: { path: `${longDir}/`, type: "dir" as const, mode: 0o755, uid: 0, gid: 0, mtime: 1700000000 } },
  fileEntry(`${longDir}/inside`, "split path\n"),
  fileEntry(unsplittable, "long path\n", { uid: 3000000, gid: 4000000 }),
  fileEntry(unicode, "unicode\n"),
  {
    entry: {
      path: "a/longlink",
      type: "symlink" as const,
      mode: 0o777,
      uid: 0,
      gid: 0,
      mtime: 1700000000,
      linkname: longTarget,
    },
  },
  {
    entry: {
      path: "a/hard-to-long",
      type: "hardlink" as const,
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: 1700000000,
      linkname: unsplittable,
    },
  },
];

describe("tar writer", () => {
  test("GNU tar lists and extracts long names, long link names, unicode names, big ids and hardlinks", async () => {
    const dir = await tempDir("tar");
    const archive = join(dir, "sample.tar");
    await writeFile(archive, await tarBytes(sample));

    const { stdout } = await run("tar", ["--numeric-owner", "-tvf", archive], { maxBuffer: 1 << 24 });
    const lines = stdout.trim().split("\n");
    assert.equal(lines.length, sample.length);
    assert.match(lines[0], /^drwxr-xr-x 0\/0 +0 2023-11-14 \d\d:\d\d a\/$/);
    assert.match(lines[2], /^hrw-r--r-- 0\/0 +0 .* a\/hard link to a\/file\.txt$/);
    assert.match(lines[3], / a\/sym -> file\.txt$/);
    assert.ok(lines[5].endsWith(`${longDir}/inside`));
    assert.match(lines[6], new RegExp(`3000000/4000000 +10 .* ${unsplittable}$`));
    assert.ok(lines[7].endsWith(unicode), lines[7]);
    assert.ok(lines[8].endsWith(`a/longlink -> ${longTarget}`));
    assert.ok(lines[9].endsWith(`a/hard-to-long link to ${unsplittable}`));

    const out = join(dir, "out");
    await run("mkdir", [out]);
    await run("tar", ["-xf", archive, "-C", out]);
    assert.equal(await readFile(join(out, unicode), "utf8"), "unicode\n");
    assert.equal(await readFile(join(out, unsplittable), "utf8"), "long path\n");
    assert.equal(await readlink(join(out, "a/longlink")), longTarget);
    const [file, hard, hardLong, long] = await Promise.all(
      ["a/file.txt", "a/hard", "a/hard-to-long", unsplittable].map((p) => lstat(join(out, p))),
    );
    assert.equal(hard.ino, file.ino);
    assert.equal(hardLong.ino, long.ino);
  });

  test("tar-stream reads back names, types, link names, modes, owners and mtimes", async () => {
    const extract = tarStream.extract();
    Readable.from([await tarBytes(sample)]).pipe(extract);
    const seen: tarStream.Header[] = [];
    for await (const entry of extract) {
      seen.push(entry.header);
      entry.resume();
    }
    assert.deepEqual(
      seen.map((h) => [
        h.name,
        h.type,
        h.linkname ?? "",
        h.mode,
        h.uid,
        h.gid,
        h.mtime.getTime() / 1000,
        h.uname,
        h.gname,
      ]),
      sample.map(({ entry: e }) => [
        e.type === "dir" && !e.path.endsWith("/") ? `${e.path}/` : e.path,
        { file: "file", dir: "directory", symlink: "symlink", hardlink: "link" }[e.type],
        e.linkname ?? "",
        e.mode & 0o7777,
        // tar-stream ignores PAX uid/gid and reports ustar's clamped 7-digit value; GNU tar (above)
        // reads the PAX records.
        Math.min(e.uid, 0o7777777),
        Math.min(e.gid, 0o7777777),
        1700000000,
        "",
        "",
      ]),
    );
  });

  test("same entries give the same bytes; PAX only where ustar cannot hold the entry", async () => {
    const first = await tarBytes(sample);
    assert.deepEqual(await tarBytes(sample), first);
    assert.deepEqual(first.subarray(-1024), TAR_END);

    const plain = tarHeader(sample[1].entry);
    assert.equal(plain.length, 512, "a short ASCII path needs no PAX header");
    assert.equal(tarHeader(sample[5].entry).length, 512, "a path that splits into prefix+name needs none");
    const pax = tarHeader(sample[7].entry);
    assert.equal(String.fromCharCode(pax[156]), "x");
    assert.equal(pax.subarray(0, 100).toString("latin1").replace(/\0+$/, ""), "PaxHeader/Z__rich-______");
    assert.match(pax.subarray(512, 1024).toString("utf8"), new RegExp(`^\\d+ path=${unicode}\n`));
    assert.equal(plain.subarray(265, 329).toString("latin1"), "\0".repeat(64), "uname and gname are empty");
    assert.equal(plain.subarray(100, 108).toString("latin1"), "0000644\0");
    assert.equal(tarPadding(6).length, 506);
    assert.equal(tarPadding(1024).length, 0);
  });

  test("waits for drain on a slow output and refuses a body that does not match its size", async () => {
    const received: Buffer[] = [];
    let writes = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, done) {
        writes++;
        received.push(chunk);
        setTimeout(done, 1);
      },
    });
    const writer = new TarWriter(slow);
    const big = Buffer.alloc(200_000, 7);
    await writer.entry(
      { path: "big", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: big.length },
      Readable.from([big.subarray(0, 100_000), big.subarray(100_000)]),
    );
    await writer.end();
    assert.ok(writes >= 3);
    const expected = Buffer.concat([
      tarHeader({ path: "big", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: big.length }),
      big,
      tarPadding(big.length),
      TAR_END,
    ]);
    assert.deepEqual(Buffer.concat(received), expected);

    const sink = new Writable({ write: (_c, _e, done) => done() });
    await assert.rejects(
      new TarWriter(sink).entry(
        { path: "f", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 5 },
        Buffer.from("abc"),
      ),
      /body is 3 bytes, header says 5/,
    );
  });
});
