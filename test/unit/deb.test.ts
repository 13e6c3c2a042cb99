import assert from "node:assert/strict";
import { readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { readArMembers } from "../../src/debian/ar.js";
import { openDeb } from "../../src/debian/deb.js";
import { isStrataError } from "../../src/util/errors.js";
import { arArchive, craftDeb, looseTar, realDeb, run, tempDir } from "../helpers/debs.js";

async function entryNames(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const { header } of (await openDeb(path)).dataEntries()) names.push(header.name);
  return names;
}

/** What dpkg-deb itself lists, names only, for comparison. */
async function dpkgNames(path: string): Promise<string[]> {
  const { stdout } = await run("dpkg-deb", ["--fsys-tarfile", path], {
    encoding: "buffer",
    maxBuffer: 1 << 30,
  });
  const dir = await tempDir("fsys");
  await writeFile(join(dir, "data.tar"), stdout);
  const list = await run("tar", ["-tf", join(dir, "data.tar")], { maxBuffer: 1 << 26 });
  return list.stdout.trim().split("\n");
}

function isDebInvalid(pattern: RegExp) {
  return (err: unknown) => isStrataError(err, "DEB_INVALID") && pattern.test(err.message);
}

describe("deb reader", () => {
  for (const name of ["busybox", "base-files", "libc6", "tzdata"]) {
    test(`reads control and every data.tar entry of ${name} as dpkg-deb does (network: downloads real .debs)`, async () => {
      const deb = await realDeb(name);
      const opened = await openDeb(deb.path);
      assert.equal(opened.control.formatVersion, "2.0");
      assert.match(opened.control.control, new RegExp(`^Package: ${name}\n`));
      assert.equal(opened.dataCompression, "xz");
      assert.ok(opened.control.md5sums && opened.control.md5sums.length > 0);
      assert.deepEqual(await entryNames(deb.path), await dpkgNames(deb.path));
      if (name === "base-files") {
        assert.ok(opened.control.conffiles.includes("/etc/debian_version"));
        assert.match(opened.control.scripts.postinst ?? "", /^#!/);
      }
    });
  }

  test("reads zstd, gzip and uncompressed data.tar as rebuilt by dpkg-deb (network: downloads real .debs)", async () => {
    const busybox = await realDeb("busybox");
    const dir = await tempDir("rebuild");
    await run("dpkg-deb", ["-R", busybox.path, join(dir, "tree")]);
    const expected = await entryNames(busybox.path);
    for (const [flag, kind] of [
      ["zstd", "zst"],
      ["gzip", "gz"],
      ["none", "none"],
    ] as const) {
      const out = join(dir, `busybox-${flag}.deb`);
      await run("dpkg-deb", ["--root-owner-group", `-Z${flag}`, "-b", join(dir, "tree"), out]);
      const members = (await readArMembers(out)).map((m) => m.name);
      assert.equal(members[2], kind === "none" ? "data.tar" : `data.tar.${kind}`);
      const opened = await openDeb(out);
      assert.equal(opened.dataCompression, kind);
      assert.deepEqual(await entryNames(out), expected);
    }
  });

  test("a file that is not an ar archive is DEB_INVALID", async () => {
    const dir = await tempDir("bad");
    const path = join(dir, "not.deb");
    await writeFile(path, "this is text\n");
    await assert.rejects(openDeb(path), isDebInvalid(/not\.deb: not an ar archive/));
  });

  test("a truncated .deb is DEB_INVALID (network: downloads real .debs)", async () => {
    const busybox = await realDeb("busybox");
    const dir = await tempDir("trunc");
    const path = join(dir, "busybox.deb");
    await writeFile(path, await readFile(busybox.path));
    await truncate(path, 200_000);
    await assert.rejects(openDeb(path), isDebInvalid(/busybox\.deb: ar member "data\.tar\.xz" is truncated/));
  });

  test("a corrupt xz stream is DEB_INVALID when data.tar is read (network: downloads real .debs)", async () => {
    const busybox = await realDeb("busybox");
    const bytes = await readFile(busybox.path);
    const data = (await readArMembers(busybox.path)).find((m) => m.name === "data.tar.xz")!;
    for (let i = data.offset + 2000; i < data.offset + 2400; i++) bytes[i] ^= 0x55;
    const dir = await tempDir("corrupt");
    const path = join(dir, "busybox.deb");
    await writeFile(path, bytes);
    const opened = await openDeb(path);
    await assert.rejects(
      async () => {
        for await (const _ of opened.dataEntries());
      },
      isDebInvalid(/busybox\.deb: data\.tar\.xz: /),
    );
  });

  test("unknown compression, a missing member and a bad format version are DEB_INVALID", async () => {
    const dir = await tempDir("members");
    const control = gzipSync(await looseTar([{ name: "./control", body: "Package: x\n" }]));
    const cases: [string, { name: string; body: Buffer }[], RegExp][] = [
      [
        "bz2",
        [
          { name: "debian-binary", body: Buffer.from("2.0\n") },
          { name: "control.tar.gz", body: control },
          { name: "data.tar.bz2", body: Buffer.from("BZh") },
        ],
        /data\.tar\.bz2: unknown compression/,
      ],
      [
        "nodata",
        [
          { name: "debian-binary", body: Buffer.from("2.0\n") },
          { name: "control.tar.gz", body: control },
        ],
        /missing data\.tar member/,
      ],
      [
        "version",
        [
          { name: "debian-binary", body: Buffer.from("3.0\n") },
          { name: "control.tar.gz", body: control },
          { name: "data.tar", body: Buffer.alloc(1024) },
        ],
        /unsupported format version "3\.0"/,
      ],
    ];
    for (const [label, members, pattern] of cases) {
      const path = join(dir, `${label}.deb`);
      await writeFile(path, arArchive(members));
      await assert.rejects(openDeb(path), isDebInvalid(pattern), label);
    }
  });

  test("reads a hand-made .deb without md5sums", async () => {
    const dir = await tempDir("crafted");
    const deb = await craftDeb(dir, "hello", [
      { name: "./", type: "directory" },
      { name: "./usr/", type: "directory" },
      { name: "./usr/hello", body: "hi\n" },
    ]);
    const opened = await openDeb(deb.path);
    assert.equal(opened.control.md5sums, undefined);
    assert.deepEqual(opened.control.conffiles, []);
    const bodies: string[] = [];
    for await (const { header, body } of opened.dataEntries()) {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk);
      bodies.push(`${header.name}=${Buffer.concat(chunks).toString()}`);
    }
    assert.deepEqual(bodies, ["./=", "./usr/=", "./usr/hello=hi\n"]);
  });
});
