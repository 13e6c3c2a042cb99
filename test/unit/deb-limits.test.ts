import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { DEB_LIMITS, openDeb } from "../../src/debian/deb.js";
import { buildPackageLayer } from "../../src/layers/layer.js";
import { resolveCompression } from "../../src/oci/compress.js";
import { TAR_END, tarHeader } from "../../src/oci/tar.js";
import { isStrataError } from "../../src/util/errors.js";
import { runStrata } from "../helpers/cli.js";
import {
  arArchive,
  craftedControl,
  gzipBombTar,
  looseTar,
  type RealDeb,
  rawDeb,
  tempDir,
} from "../helpers/debs.js";
import { fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";

async function build(deb: RealDeb, store: string) {
  return buildPackageLayer({
    debPath: deb.path,
    debSha256: deb.sha256,
    store,
    epoch: 0,
    compression: resolveCompression("gzip"),
    keepDocs: false,
    locked: deb.locked,
  });
}

function debInvalid(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(isStrataError(err, "DEB_INVALID"), String((err as Error)?.stack ?? err));
    assert.match(err.message, pattern);
    return true;
  };
}

/** A ustar header block with some fields overwritten by raw bytes, and its checksum made right again. */
function forgedHeader(overrides: { at: number; bytes: Buffer }[], size = 0): Buffer {
  const block = tarHeader({ path: "usr/x", type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size });
  for (const { at, bytes } of overrides) bytes.copy(block, at);
  block.write("        ", 148, "latin1");
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return block;
}

const MiB = 2 ** 20;

/** 100 MB of zeros in 15 KB of xz: the expansion cap stops it while xz is still working. */
function xzBomb(): Buffer {
  return execFileSync("sh", ["-c", "head -c 100000000 /dev/zero | xz -T1 -c"], { maxBuffer: 1 << 20 });
}

describe("a .deb under hostile input", () => {
  // First in the file, so the process's peak RSS before it is not already raised by other tests.
  test("a gzip bomb (256 files of 1 MiB of zeros in 250 KB) is DEB_INVALID early, without holding the expansion in memory", {
    timeout: 120_000,
  }, async () => {
    const dir = await tempDir("bomb");
    const store = join(dir, "store");
    const deb = await rawDeb(dir, "bomb", {
      name: "data.tar.gz",
      body: await gzipBombTar("usr/zeros", MiB, 256),
    });
    const peakBefore = process.resourceUsage().maxRSS * 1024;
    await assert.rejects(
      build(deb, store),
      debInvalid(/data\.tar\.gz expands beyond \d+ bytes .*decompression bomb/),
    );
    const grew = process.resourceUsage().maxRSS * 1024 - peakBefore;
    assert.ok(grew < 100 * MiB, `peak RSS grew by ${Math.round(grew / MiB)} MiB`);
    const left = await readdir(join(store, "sha256")).catch(() => []);
    assert.deepEqual(left, [], "no blob and no spool file left behind");
  });

  test("an xz bomb is DEB_INVALID, and an xz stream cut short never takes the process down", {
    timeout: 120_000,
  }, async () => {
    const dir = await tempDir("xz-bomb");
    const body = xzBomb();
    const bomb = await rawDeb(dir, "xzbomb", { name: "data.tar.xz", body });
    await assert.rejects(build(bomb, join(dir, "store")), debInvalid(/data\.tar\.xz expands beyond/));
    // A tar that ends (two zero blocks) while xz has more to give: the reader stops early.
    const xz = execFileSync("xz", ["-T1", "-c"], { input: Buffer.alloc(8 * MiB), maxBuffer: 1 << 24 });
    const cut = await rawDeb(dir, "xzcut", { name: "data.tar.xz", body: xz });
    const record = await build(cut, join(dir, "store2"));
    assert.ok(
      record.files.every((f) => f.startsWith("var/lib/dpkg/status.d/")),
      record.files.join(" "),
    );
  });

  test("through the CLI, with layers made on worker threads, an xz bomb is one error line, not an abort", {
    timeout: 120_000,
  }, async () => {
    const dir = await tempDir("xz-cli");
    const body = xzBomb();
    const deb = await rawDeb(dir, "xzbomb", { name: "data.tar.xz", body });
    const repo = await startFakeRepo({
      packages: [{ name: "xzbomb", version: "1.0", arch: "all", body: await readFile(deb.path) }],
    });
    try {
      await writeFile(join(dir, "strata.yaml"), fakeRepoSpec(repo, ["xzbomb"], "exclude: [base-files]"));
      const cache = join(dir, "cache");
      assert.equal((await runStrata(["--cache-dir", cache, "lock"], { cwd: dir })).code, 0);
      const r = await runStrata(["--cache-dir", cache, "build", "-o", join(dir, "out")], { cwd: dir });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^strata: error: .*data\.tar\.xz expands beyond/m);
      assert.doesNotMatch(r.stderr, /FATAL|napi|\n\s+at /);
    } finally {
      await repo.close();
    }
  });

  test("one data.tar entry declaring more than the member may expand to is refused from its header", async () => {
    const dir = await tempDir("bomb1");
    const body = await gzipBombTar("usr/zeros", 80 * MiB);
    const deb = await rawDeb(dir, "bomb1", { name: "data.tar.gz", body });
    await assert.rejects(
      build(deb, join(dir, "store")),
      debInvalid(/data\.tar\.gz expands beyond 67108864 bytes/),
    );
  });

  test("a control.tar that expands past its limit is DEB_INVALID", { timeout: 60_000 }, async () => {
    const dir = await tempDir("cbomb");
    const control = await gzipBombTar("control", 40 * MiB);
    const deb = await rawDeb(
      dir,
      "cbomb",
      { name: "data.tar.gz", body: gzipSync(await looseTar([])) },
      control,
    );
    await assert.rejects(openDeb(deb.path), debInvalid(/control\.tar\.gz expands beyond 33554432 bytes/));
    const many = await gzipBombTar("md5sums", MiB, 40);
    const emptyData = { name: "data.tar.gz", body: gzipSync(await looseTar([])) };
    const deb2 = await rawDeb(dir, "cbomb2", emptyData, many);
    await assert.rejects(openDeb(deb2.path), debInvalid(/control\.tar\.gz expands beyond 33554432 bytes/));
  });

  test("a data.tar with more entries than DEB_LIMITS.entries is DEB_INVALID", {
    timeout: 120_000,
  }, async () => {
    const headers = Array.from({ length: DEB_LIMITS.entries + 1 }, (_, i) =>
      tarHeader({ path: `d${i}`, type: "dir", mode: 0o755, uid: 0, gid: 0, mtime: 0 }),
    );
    const body = gzipSync(Buffer.concat([...headers, TAR_END]));
    const dir = await tempDir("many");
    const deb = await rawDeb(dir, "many", { name: "data.tar.gz", body });
    await assert.rejects(
      build(deb, join(dir, "store")),
      debInvalid(new RegExp(`data\\.tar\\.gz has more than ${DEB_LIMITS.entries} entries`)),
    );
  });

  const forged: [string, Buffer, RegExp][] = [
    [
      "a non-octal size",
      forgedHeader([{ at: 124, bytes: Buffer.from("zzzzzzzzzzz\0") }]),
      /data\.tar: Invalid header/,
    ],
    [
      "a base-256 size of 2^42 bytes",
      forgedHeader([{ at: 124, bytes: Buffer.from([0x80, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0]) }]),
      /data\.tar expands beyond 67108864 bytes/,
    ],
    [
      "a negative base-256 size",
      forgedHeader([
        {
          at: 124,
          bytes: Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]),
        },
      ]),
      /data\.tar: /,
    ],
    [
      "a PAX header claiming 3 GiB",
      forgedHeader([
        { at: 124, bytes: Buffer.from("30000000000\0") },
        { at: 156, bytes: Buffer.from("x") },
      ]),
      /data\.tar: Header exceeds max size/,
    ],
  ];
  for (const [label, header, pattern] of forged) {
    test(`a data.tar header with ${label} is DEB_INVALID, never an allocation of that size`, async () => {
      const dir = await tempDir("forged");
      const deb = await rawDeb(dir, "forged", { name: "data.tar", body: Buffer.concat([header, TAR_END]) });
      await assert.rejects(build(deb, join(dir, "store")), debInvalid(pattern));
    });
  }

  test("a PAX record with an absurd length or size is DEB_INVALID", async () => {
    for (const record of ["99999999999999 path=usr/y\n", "30 size=99999999999999999999\n"]) {
      const pax = Buffer.from(record);
      const paxHeader = forgedHeader(
        [
          { at: 0, bytes: Buffer.from("PaxHeader/x\0") },
          { at: 156, bytes: Buffer.from("x") },
        ],
        pax.length,
      );
      const body = Buffer.concat([paxHeader, pax, Buffer.alloc(512 - pax.length), forgedHeader([]), TAR_END]);
      const dir = await tempDir("pax");
      const deb = await rawDeb(dir, "pax", { name: "data.tar", body });
      await assert.rejects(build(deb, join(dir, "store")), (err: unknown) => {
        assert.ok(isStrataError(err), String((err as Error)?.stack ?? err));
        assert.ok(err.code === "DEB_INVALID" || err.code === "UNSAFE_PATH", err.message);
        return true;
      });
    }
  });

  test("ar headers with a negative, non-decimal or huge size, or a huge debian-binary, are DEB_INVALID", async () => {
    const dir = await tempDir("ar");
    const good = arArchive([{ name: "debian-binary", body: Buffer.from("2.0\n") }]);
    const cases: [string, Buffer, RegExp][] = [];
    for (const [label, size, pattern] of [
      ["negative", "-5", /bad size "-5"/],
      ["hex", "0x10", /bad size "0x10"/],
      ["huge", "9999999999", /is truncated/],
    ] as const) {
      const bytes = Buffer.from(good);
      bytes.write(size.padEnd(10), 8 + 48, "latin1");
      cases.push([label, bytes, pattern]);
    }
    const controlTar = gzipSync(await looseTar([{ name: "./control", body: craftedControl("big") }]));
    cases.push([
      "huge debian-binary",
      arArchive([
        { name: "debian-binary", body: Buffer.alloc(100_000, 0x32) },
        { name: "control.tar.gz", body: controlTar },
        { name: "data.tar", body: TAR_END },
      ]),
      /debian-binary is 100000 bytes/,
    ]);
    for (const [label, bytes, pattern] of cases) {
      const path = join(dir, `${label}.deb`);
      await import("node:fs/promises").then((fs) => fs.writeFile(path, bytes));
      await assert.rejects(openDeb(path), debInvalid(pattern), label);
    }
  });
});
