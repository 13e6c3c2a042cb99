import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFile, lstat, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { describe, test } from "node:test";
import { Worker } from "node:worker_threads";
import { gunzipSync, gzipSync } from "node:zlib";
import { cachedDebChangelog } from "../../src/advisories/deb-changelog.js";
import { accountFiles } from "../../src/debian/accounts.js";
import { baseLayerEntries } from "../../src/debian/base-root.js";
import { buildBaseLayer, buildEntriesLayer } from "../../src/layers/base-layer.js";
import {
  buildPackageLayer,
  type PackageLayerInput,
  type PackageLayerRecord,
} from "../../src/layers/layer.js";
import { LayerCache } from "../../src/layers/layer-cache.js";
import type { LayerBlob } from "../../src/layers/write-layer.js";
import {
  type Compression,
  compressionIdentity,
  createCompressor,
  layerMediaType,
  resolveCompression,
} from "../../src/oci/compress.js";
import { LIBDEFLATE_WASM_SHA256 } from "../../src/oci/libdeflate.js";
import { ContentStore } from "../../src/util/cas.js";
import { isStrataError } from "../../src/util/errors.js";
import { craftDeb, craftedControl, type RealDeb, realDeb, run, tempDir } from "../helpers/debs.js";

const EPOCH = 1700000000;
const GZIP = resolveCompression("gzip");

async function build(
  deb: RealDeb,
  opts: { store?: string; keepDocs?: boolean; compression?: Compression } = {},
) {
  const store = opts.store ?? (await tempDir("store"));
  const record = await buildPackageLayer({
    debPath: deb.path,
    debSha256: deb.sha256,
    store,
    epoch: EPOCH,
    compression: opts.compression ?? GZIP,
    keepDocs: opts.keepDocs ?? false,
    locked: deb.locked,
  });
  return { record, store };
}

function blobPath(store: string, blob: LayerBlob): string {
  return new ContentStore(store).path(blob.digest.slice("sha256:".length));
}

/** `tar -tv` of a layer blob, as lines. */
async function listing(store: string, blob: LayerBlob): Promise<string[]> {
  const flag = blob.mediaType.endsWith("zstd") ? "--zstd" : "-z";
  const { stdout } = await run("tar", ["--numeric-owner", flag, "-tvf", blobPath(store, blob)], {
    maxBuffer: 1 << 26,
  });
  return stdout.trim().split("\n");
}

async function extract(store: string, blob: LayerBlob): Promise<string> {
  const dir = await tempDir("extract");
  await run("tar", ["-xzf", blobPath(store, blob), "-C", dir]);
  return dir;
}

const names = (lines: string[]) =>
  lines.map((l) => l.replace(/^\S+ \S+ +\d+ \S+ \S+ /, "").replace(/ (->|link to) .*$/, ""));

describe("changelogs kept as a layer is made", () => {
  test("a .deb's changelog entries go to the cache with no .deb read again; one that does not parse is not kept and fails nothing", async () => {
    const dir = await tempDir("changelog-kept");
    const changelog = gzipSync(
      "hello (2.10-3) unstable; urgency=medium\n\n  * Fix CVE-2099-1234.\n\n -- A <a@example.invalid>  Mon, 01 Jan 2024 00:00:00 +0000\n",
    );
    const good = await craftDeb(dir, "hello", [
      { name: "./usr/share/doc/hello/changelog.Debian.gz", body: changelog },
    ]);
    const bad = await craftDeb(await tempDir("changelog-bad"), "hello", [
      { name: "./usr/share/doc/hello/changelog.Debian.gz", body: Buffer.from("not gzip at all") },
    ]);
    const cacheRoot = join(dir, "cache");
    for (const deb of [good, bad])
      await buildPackageLayer({
        debPath: deb.path,
        debSha256: deb.sha256,
        store: await tempDir("store"),
        epoch: EPOCH,
        compression: GZIP,
        keepDocs: false,
        locked: deb.locked,
        cacheRoot,
      });
    const kept = JSON.parse(await readFile(join(cacheRoot, "changelogs", `${good.sha256}.json`), "utf8"));
    assert.deepEqual(
      kept.entries.map((e: { version: string; cves?: string[] }) => e.version),
      ["2.10-3"],
    );
    assert.match(JSON.stringify(kept.entries), /CVE-2099-1234/);
    await assert.rejects(readFile(join(cacheRoot, "changelogs", `${bad.sha256}.json`)), { code: "ENOENT" });
    assert.equal(await cachedDebChangelog(good.sha256, undefined, cacheRoot).then((e) => e?.length), 1);
  });
});

describe("package layer", () => {
  test("the same .deb gives the same digest and diffId, and GNU tar lists it (network: downloads real .debs)", async () => {
    const busybox = await realDeb("busybox");
    const first = await build(busybox);
    const second = await build(busybox);
    assert.equal(second.record.digest, first.record.digest);
    assert.equal(second.record.diffId, first.record.diffId);
    assert.equal(first.record.members[0].package, "busybox");
    assert.equal(first.record.mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
    const blob = await readFile(blobPath(first.store, first.record));
    assert.equal(`sha256:${createHash("sha256").update(blob).digest("hex")}`, first.record.digest);
    assert.equal(blob.length, first.record.size);
    assert.equal(
      `sha256:${createHash("sha256").update(gunzipSync(blob)).digest("hex")}`,
      first.record.diffId,
    );

    const lines = await listing(first.store, first.record);
    assert.ok(
      lines.every((l) => / 0\/0 .* 2023-11-14 /.test(l)),
      "owners numeric and every mtime the epoch",
    );
    assert.ok(names(lines).includes("usr/bin/busybox"));
    assert.deepEqual(
      first.record.files,
      names(lines).filter((n) => !n.endsWith("/")),
    );
  });

  test("merged-/usr: libc6's lib/ and lib64/ paths move under usr/ (network: downloads real .debs)", async () => {
    const { record, store } = await build(await realDeb("libc6"));
    const paths = names(await listing(store, record));
    assert.ok(paths.includes("usr/lib64/ld-linux-x86-64.so.2"));
    assert.ok(paths.includes("usr/lib/x86_64-linux-gnu/libc.so.6"));
    assert.ok(
      paths.every((p) => !/^(bin|sbin|lib|lib32|lib64|libx32)(\/|$)/.test(p)),
      "no top-level merged dirs",
    );
    const sorted = [...paths].map((p) => p.replace(/\/$/, ""));
    assert.deepEqual(
      sorted,
      [...sorted].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
  });

  test("status.d holds the stanza with Status after Package, and the package's md5sums (network: downloads real .debs)", async () => {
    const busybox = await realDeb("busybox");
    const { record, store } = await build(busybox);
    const root = await extract(store, record);
    const status = await readFile(join(root, "var/lib/dpkg/status.d/busybox"), "utf8");
    assert.match(status, /^Package: busybox\nStatus: install ok installed\n/);
    assert.match(status, /\nVersion: 1:1\.35\.0/);
    const { stdout: md5sums } = await run("sh", [
      "-c",
      `dpkg-deb --ctrl-tarfile '${busybox.path}' | tar -xOf - ./md5sums`,
    ]);
    assert.equal(await readFile(join(root, "var/lib/dpkg/status.d/busybox.md5sums"), "utf8"), md5sums);
    for (const dir of ["var", "var/lib", "var/lib/dpkg", "var/lib/dpkg/status.d"]) {
      assert.equal((await lstat(join(root, dir))).mode & 0o7777, 0o755);
    }
  });

  test("docs, man pages and locales are dropped but copyright stays; keepDocs keeps them (network: downloads real .debs)", async () => {
    const baseFiles = await realDeb("base-files");
    const dropped = names(await listing(...storeAndRecord(await build(baseFiles))));
    assert.ok(dropped.includes("usr/share/doc/base-files/copyright"));
    assert.ok(dropped.includes("usr/share/doc/base-files/"));
    assert.ok(dropped.includes("etc/os-release") || dropped.includes("usr/lib/os-release"));
    assert.ok(!dropped.some((p) => p.startsWith("usr/share/doc/base-files/") && !/\/(copyright)?$/.test(p)));
    assert.ok(!dropped.some((p) => /^usr\/share\/(man|info|locale|lintian|doc-base)\//.test(p)));
    const kept = names(await listing(...storeAndRecord(await build(baseFiles, { keepDocs: true }))));
    assert.ok(kept.some((p) => p.startsWith("usr/share/doc/base-files/") && p.endsWith(".gz")));
    assert.ok(kept.some((p) => p.startsWith("usr/share/lintian/")));
  });

  test("hardlinks survive: perl-base's perl and perlVERSION share an inode (network: downloads real .debs)", async () => {
    // The archive's perl-base names the subject: perl5.36.0 in bookworm, whatever the archive holds later.
    const deb = await realDeb("perl-base");
    const upstream = deb.locked.version.replace(/^\d+:/, "").replace(/-[^-]*$/, "");
    const versioned = `usr/bin/perl${upstream}`;
    const { record, store } = await build(deb);
    const lines = await listing(store, record);
    const link = new RegExp(`^h.* ${versioned.replace(/\./g, "\\.")} link to usr/bin/perl$`);
    assert.ok(
      lines.some((l) => link.test(l)),
      `${versioned} is a hardlink of usr/bin/perl`,
    );
    const root = await extract(store, record);
    assert.equal((await lstat(join(root, "usr/bin/perl"))).ino, (await lstat(join(root, versioned))).ino);
  });

  test("large and many-file packages keep exactly their non-doc files: tzdata, libpython3.11-stdlib (network: downloads real .debs)", async () => {
    for (const name of ["tzdata", "libpython3.11-stdlib"]) {
      const deb = await realDeb(name);
      const { record } = await build(deb);
      const { stdout } = await run("sh", ["-c", `dpkg-deb --fsys-tarfile '${deb.path}' | tar -tf -`], {
        maxBuffer: 1 << 26,
      });
      const expected = stdout
        .trim()
        .split("\n")
        .map((p) => p.replace(/^\.\//, ""))
        .filter((p) => p !== "" && !p.endsWith("/"))
        .filter(
          (p) =>
            !/^usr\/share\/(doc|man|info|locale|lintian|doc-base)\//.test(p) ||
            /^usr\/share\/doc\/[^/]+\/copyright$/.test(p),
        )
        .concat([`var/lib/dpkg/status.d/${name}`, `var/lib/dpkg/status.d/${name}.md5sums`])
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      assert.ok(expected.length > 300, `${name} is a many-file package`);
      assert.deepEqual(record.files, expected);
    }
  });

  test("zstd layers decompress with zstd and keep the same diffId (network: downloads real .debs)", async () => {
    const busybox = await realDeb("busybox");
    const gz = await build(busybox);
    const zst = await build(busybox, { compression: resolveCompression("zstd") });
    assert.equal(zst.record.mediaType, "application/vnd.oci.image.layer.v1.tar+zstd");
    assert.equal(zst.record.diffId, gz.record.diffId);
    assert.notEqual(zst.record.digest, gz.record.digest);
    assert.ok((await listing(zst.store, zst.record)).length > 5);
  });

  test("runs in a worker thread with plain data in and out (network: downloads real .debs)", async () => {
    const busybox = await realDeb("busybox");
    const dir = await tempDir("worker");
    const script = join(dir, "worker.mjs");
    const layerModule = new URL("../../src/layers/layer.ts", import.meta.url).href;
    // tsx's --import hooks do not reach worker threads here, so the worker registers tsx itself.
    const tsxApi = import.meta.resolve("tsx/esm/api");
    await writeFile(
      script,
      `import { parentPort, workerData } from "node:worker_threads";
       const { register } = await import(${JSON.stringify(tsxApi)});
       register();
       const { buildPackageLayer } = await import(${JSON.stringify(layerModule)});
       parentPort.postMessage(await buildPackageLayer(workerData));`,
    );
    const input: PackageLayerInput = {
      debPath: busybox.path,
      debSha256: busybox.sha256,
      store: join(dir, "store"),
      epoch: EPOCH,
      compression: GZIP,
      keepDocs: false,
      locked: busybox.locked,
    };
    const fromWorker = await new Promise<PackageLayerRecord>((resolve, reject) => {
      const worker = new Worker(script, { workerData: input });
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    assert.deepEqual(fromWorker, (await build(busybox)).record);
  });

  test("a .deb whose bytes are not the expected sha256 is refused with HASH_MISMATCH (network: downloads real .debs)", async () => {
    const busybox = await realDeb("busybox");
    await assert.rejects(build({ ...busybox, sha256: "0".repeat(64) }), (err: unknown) =>
      isStrataError(err, "HASH_MISMATCH"),
    );
  });

  test("a truncated .deb is DEB_INVALID (network: downloads real .debs)", async () => {
    const busybox = await realDeb("busybox");
    const dir = await tempDir("trunc");
    const path = join(dir, "busybox.deb");
    await writeFile(path, (await readFile(busybox.path)).subarray(0, 300_000));
    const sha256 = createHash("sha256")
      .update(await readFile(path))
      .digest("hex");
    await assert.rejects(build({ ...busybox, path, sha256 }), (err: unknown) =>
      isStrataError(err, "DEB_INVALID"),
    );
  });

  test("a package without md5sums gets them computed from its files, conffiles aside", async () => {
    const dir = await tempDir("md5");
    const deb = await craftDeb(dir, "plain", [
      { name: "./", type: "directory" },
      { name: "./bin/", type: "directory" },
      { name: "./bin/tool", body: "#!/bin/sh\n", mode: 0o755 },
      { name: "./usr/", type: "directory" },
      { name: "./usr/share/", type: "directory" },
      { name: "./usr/share/plain/", type: "directory" },
      { name: "./usr/share/plain/data", body: "data\n" },
      { name: "./usr/share/plain/same", type: "link", linkname: "./usr/share/plain/data" },
      { name: "./usr/share/doc/plain/changelog.gz", body: "x" },
      { name: "./usr/share/doc/plain/copyright", body: "GPL\n" },
      { name: "./bin/tool-link", type: "symlink", linkname: "../lib/tool" },
    ]);
    const { record, store } = await build(deb);
    const root = await extract(store, record);
    const md5 = (s: string) => createHash("md5").update(s).digest("hex");
    assert.equal(
      await readFile(join(root, "var/lib/dpkg/status.d/plain.md5sums"), "utf8"),
      [
        `${md5("#!/bin/sh\n")}  bin/tool\n`,
        `${md5("x")}  usr/share/doc/plain/changelog.gz\n`,
        `${md5("GPL\n")}  usr/share/doc/plain/copyright\n`,
        `${md5("data\n")}  usr/share/plain/data\n`,
        `${md5("data\n")}  usr/share/plain/same\n`,
      ].join(""),
    );
    assert.deepEqual(record.files, [
      "usr/bin/tool",
      "usr/bin/tool-link",
      "usr/share/doc/plain/copyright",
      "usr/share/plain/data",
      "usr/share/plain/same",
      "var/lib/dpkg/status.d/plain",
      "var/lib/dpkg/status.d/plain.md5sums",
    ]);
    const lines = await listing(store, record);
    assert.ok(
      lines.some((l) => l.endsWith("usr/bin/tool-link -> ../lib/tool")),
      "relocated symlink still reaches usr/lib/tool",
    );
    assert.ok(
      lines.some((l) => l.startsWith("drwxr-xr-x 0/0") && l.endsWith(" usr/share/doc/plain/")),
      "parent dir synthesised",
    );
  });

  test("a hardlink that sorts before its target carries the body; the target links to it", async () => {
    const dir = await tempDir("hl");
    const deb = await craftDeb(dir, "order", [
      { name: "./usr/", type: "directory" },
      { name: "./usr/z-file", body: "body\n" },
      { name: "./usr/a-link", type: "link", linkname: "./usr/z-file" },
    ]);
    const { record, store } = await build(deb);
    const lines = await listing(store, record);
    assert.ok(lines.some((l) => /^-rw-r--r-- 0\/0 +5 .* usr\/a-link$/.test(l)));
    assert.ok(lines.some((l) => /^h.* usr\/z-file link to usr\/a-link$/.test(l)));
  });

  const malicious: [string, Parameters<typeof craftDeb>[2], RegExp][] = [
    ["absolute", [{ name: "/etc/passwd", body: "x" }], /evil: \/etc\/passwd: absolute path/],
    ["dotdot", [{ name: "./usr/../../etc/passwd", body: "x" }], /'\.\.' component/],
    [
      "hardlink-out",
      [
        { name: "./usr/", type: "directory" },
        { name: "./usr/shadow", type: "link", linkname: "/etc/shadow" },
      ],
      /absolute path/,
    ],
    [
      "hardlink-missing",
      [
        { name: "./usr/", type: "directory" },
        { name: "./usr/x", type: "link", linkname: "./usr/not-here" },
      ],
      /hardlink target \.\/usr\/not-here is not a file of the package/,
    ],
    [
      "symlink-climb",
      [
        { name: "./usr/", type: "directory" },
        { name: "./usr/escape", type: "symlink", linkname: "../../etc/shadow" },
      ],
      /climbs above the root/,
    ],
    [
      "symlink-climb-from-bin",
      [
        { name: "./bin/", type: "directory" },
        { name: "./bin/escape", type: "symlink", linkname: "../../etc" },
      ],
      /bin\/escape: symlink target "\.\.\/\.\.\/etc" climbs above the root/,
    ],
    [
      "through-symlink",
      [
        { name: "./usr/", type: "directory" },
        { name: "./usr/etc", type: "symlink", linkname: "/etc" },
        { name: "./usr/etc/passwd", body: "x" },
      ],
      /usr\/etc\/passwd: passes through the symlink usr\/etc/,
    ],
    ["fifo", [{ name: "./run/pipe", type: "fifo" }], /run\/pipe: fifo entries are refused/],
    [
      "usr-to-root",
      [{ name: "./usr", type: "symlink", linkname: "/" }],
      /evil: usr: would replace the directory \/usr/,
    ],
    ["etc-as-file", [{ name: "./etc", body: "x" }], /evil: etc: would replace the directory \/etc/],
    [
      "usr-lib-link",
      [
        { name: "./usr/", type: "directory" },
        { name: "./usr/lib", type: "symlink", linkname: "/tmp" },
      ],
      /evil: usr\/lib: would replace the directory \/usr\/lib/,
    ],
    [
      "device",
      [{ name: "./dev/mem", type: "character-device" }],
      /dev\/mem: character-device entries are refused/,
    ],
    ["whiteout", [{ name: "./etc/.wh.passwd", body: "" }], /etc\/\.wh\.passwd: an OCI whiteout name/],
    [
      "fake-dpkg-status",
      [
        {
          name: "./var/lib/dpkg/status",
          body: "Package: openssl\nStatus: install ok installed\nVersion: 9.9.9\n",
        },
      ],
      /var\/lib\/dpkg\/status: a package may not ship files in dpkg's database/,
    ],
    [
      "opaque-whiteout",
      [
        { name: "./usr/", type: "directory" },
        { name: "./usr/share/x/.wh..wh..opq", body: "" },
      ],
      /an OCI whiteout name/,
    ],
  ];
  for (const [label, files, pattern] of malicious) {
    test(`refuses a crafted .deb with UNSAFE_PATH: ${label}`, async () => {
      const deb = await craftDeb(await tempDir("evil"), "evil", files);
      await assert.rejects(
        build(deb),
        (err: unknown) => isStrataError(err, "UNSAFE_PATH") && pattern.test(err.message),
      );
    });
  }
});

describe("control stanza against the lock", () => {
  const files = [
    { name: "./usr/", type: "directory" as const },
    { name: "./usr/x", body: "x\n" },
  ];
  const stanza = craftedControl("evil");
  const cases: [string, string, RegExp][] = [
    [
      "another package's name",
      stanza.replace("Package: evil", "Package: openssl"),
      /Package is "openssl" where the lock says "evil"/,
    ],
    [
      "another version",
      stanza.replace("Version: 1.0", "Version: 9.9"),
      /Version is "9\.9" where the lock says "1\.0"/,
    ],
    [
      "another architecture",
      stanza.replace("Architecture: all", "Architecture: amd64"),
      /Architecture is "amd64"/,
    ],
    [
      "a second stanza spoofing openssl",
      `${stanza}\nPackage: openssl\nVersion: 3.0.0\nArchitecture: all\n`,
      /line 6 is blank: a second stanza/,
    ],
    ["a whitespace-only line before a second stanza", `${stanza} \nPackage: openssl\n`, /line 6 is blank/],
    ["a repeated Package field", `${stanza}package: openssl\n`, /field package appears twice/],
    [
      "a carriage return hiding a field",
      stanza.replace("Description: crafted", "Description: a\rPackage: openssl"),
      /control character 0x0d/,
    ],
    ["a Status field of its own", `${stanza}Status: deinstall ok config-files\n`, /it has a Status field/],
    ["a line that is not a field", `${stanza}not a field\n`, /line 6 is not a field/],
  ];
  for (const [label, control, pattern] of cases) {
    test(`a .deb whose control has ${label} is refused with DEB_INVALID before status.d is written`, async () => {
      const store = await tempDir("store");
      const deb = await craftDeb(await tempDir("ctl"), "evil", files, control);
      await assert.rejects(build(deb, { store }), (err: unknown) => {
        assert.ok(isStrataError(err, "DEB_INVALID"), String(err));
        assert.match(err.message, pattern);
        return true;
      });
      assert.deepEqual(await readdir(join(store, "sha256")).catch(() => []), [], "no blob stored");
    });
  }
});

function storeAndRecord(built: { record: PackageLayerRecord; store: string }): [string, PackageLayerRecord] {
  return [built.store, built.record];
}

describe("layer cache", () => {
  test("a warm lookup returns the record without reading the .deb (network: downloads real .debs)", async () => {
    const busybox = await realDeb("busybox");
    const dir = await tempDir("cache");
    const debPath = join(dir, "busybox.deb");
    await copyFile(busybox.path, debPath);
    const cache = new LayerCache(join(dir, "cache"), join(dir, "store"));
    const input: PackageLayerInput = {
      debPath,
      debSha256: busybox.sha256,
      store: join(dir, "store"),
      epoch: EPOCH,
      compression: GZIP,
      keepDocs: false,
      locked: busybox.locked,
    };
    let builds = 0;
    const counting = (i: PackageLayerInput) => {
      builds++;
      return buildPackageLayer(i);
    };
    const cold = await cache.getOrBuild(input, counting);
    assert.equal(cold.cached, false);
    await rm(debPath);
    const warm = await cache.getOrBuild(input, counting);
    assert.equal(warm.cached, true);
    assert.equal(builds, 1);
    assert.deepEqual(warm.record, cold.record);
    // other options are other layers
    assert.equal(await cache.get({ ...input, keepDocs: true }), undefined);
    assert.equal(await cache.get({ ...input, epoch: EPOCH + 1 }), undefined);
  });

  test("a corrupt blob or unreadable entry drops the entry and is a miss (network: downloads real .debs)", async () => {
    const busybox = await realDeb("busybox");
    const dir = await tempDir("cache");
    const store = join(dir, "store");
    const cache = new LayerCache(join(dir, "cache"), store);
    const key = { debSha256: busybox.sha256, epoch: EPOCH, keepDocs: false, compression: GZIP };
    const input = { ...key, debPath: busybox.path, store, locked: busybox.locked };
    const { record } = await cache.getOrBuild(input);

    const blob = blobPath(store, record);
    const bytes = await readFile(blob);
    bytes[100] ^= 1;
    await writeFile(blob, bytes);
    assert.equal(await cache.get(key), undefined);
    await assert.rejects(lstat(cache.entryPath(key)), "entry removed");

    const again = await cache.getOrBuild(input);
    assert.equal(again.cached, false);
    assert.equal(again.record.digest, record.digest);
    await writeFile(cache.entryPath(key), "{ not json");
    assert.equal(await cache.get(key), undefined);
    await assert.rejects(lstat(cache.entryPath(key)), "entry removed");
  });
});

describe("base and files layers", () => {
  const accounts = {
    users: [
      { name: "app", uid: 1000, gid: 1000, home: "/home/app", shell: "/bin/sh", gecos: "App" },
      { name: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/sh" },
      { name: "nobody", uid: 65534, gid: 65534, home: "/nonexistent", shell: "/usr/sbin/nologin" },
    ],
    groups: [
      { name: "root", gid: 0 },
      { name: "shadow", gid: 42 },
      { name: "app", gid: 1000, members: ["app"] },
      { name: "nogroup", gid: 65534 },
    ],
  };

  test("the amd64 base layer has the merged-/usr links, skeleton modes, accounts and image locations", async () => {
    const store = await tempDir("store");
    const blob = await buildBaseLayer({
      architecture: "amd64",
      accounts,
      store,
      epoch: EPOCH,
      compression: GZIP,
    });
    const lines = await listing(store, blob);
    const byName = new Map(lines.map((l) => [names([l])[0], l]));
    for (const link of ["bin", "sbin", "lib", "lib64"]) {
      assert.match(byName.get(link) ?? "", new RegExp(`^lrwxrwxrwx 0/0 .* ${link} -> usr/${link}$`));
      assert.ok(byName.has(`usr/${link}/`));
    }
    assert.ok(!byName.has("lib32") && !byName.has("libx32"));
    assert.match(byName.get("tmp/")!, /^drwxrwxrwt 0\/0 /);
    assert.match(byName.get("var/tmp/")!, /^drwxrwxrwt 0\/0 /);
    assert.match(byName.get("root/")!, /^drwx------ 0\/0 /);
    assert.match(byName.get("home/app/")!, /^drwxr-xr-x 1000\/1000 /);
    assert.match(byName.get("etc/shadow")!, /^-rw-r----- 0\/42 /);
    assert.ok(!byName.has("nonexistent/"));
    const root = await extract(store, blob);
    assert.equal(
      await readFile(join(root, "etc/passwd"), "utf8"),
      "root:x:0:0::/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin\n",
    );
    assert.equal(
      await readFile(join(root, "etc/group"), "utf8"),
      "root:x:0:\nshadow:x:42:\napp:x:1000:app\nnogroup:x:65534:\n",
    );
    assert.equal(
      await readFile(join(root, "etc/shadow"), "utf8"),
      "root:*::0:99999:7:::\napp:*::0:99999:7:::\nnobody:*::0:99999:7:::\n",
    );
    const again = await buildBaseLayer({
      architecture: "amd64",
      accounts,
      store,
      epoch: EPOCH,
      compression: GZIP,
    });
    assert.equal(again.digest, blob.digest);
  });

  test("arm64 links lib only, multilib adds lib32; account fields with separators are refused", () => {
    const links = baseLayerEntries("arm64", accounts)
      .filter((e) => e.type === "symlink")
      .map((e) => e.path);
    assert.deepEqual(links, ["bin", "lib", "sbin"]);
    const multilib = baseLayerEntries("amd64", accounts, ["lib32"]).filter((e) => e.type === "symlink");
    assert.deepEqual(
      multilib.map((e) => `${e.path}->${e.linkname}`),
      ["bin->usr/bin", "lib->usr/lib", "lib32->usr/lib32", "lib64->usr/lib64", "sbin->usr/sbin"],
    );
    assert.throws(
      () =>
        accountFiles({
          users: [{ name: "x", uid: 1, gid: 1, home: "/h", shell: "/bin/sh", gecos: "a:b" }],
          groups: [],
        }),
      (err: unknown) => isStrataError(err, "SPEC_INVALID"),
    );
  });

  test("a files layer from in-memory entries: rooted paths, parents synthesised, unsafe paths refused", async () => {
    const store = await tempDir("store");
    const blob = await buildEntriesLayer({
      entries: [
        {
          path: "/etc/ssl/certs/ca-certificates.crt",
          type: "file",
          mode: 0o644,
          uid: 0,
          gid: 0,
          body: Buffer.from("PEM\n"),
        },
        {
          path: "/app/run",
          type: "file",
          mode: 0o755,
          uid: 1000,
          gid: 1000,
          body: Buffer.from("#!/bin/sh\n"),
        },
      ],
      store,
      epoch: EPOCH,
      compression: resolveCompression("none"),
    });
    assert.equal(blob.mediaType, "application/vnd.oci.image.layer.v1.tar");
    assert.equal(blob.digest, blob.diffId);
    const { stdout } = await run("tar", ["--numeric-owner", "-tvf", blobPath(store, blob)]);
    assert.deepEqual(names(stdout.trim().split("\n")), [
      "app/",
      "app/run",
      "etc/",
      "etc/ssl/",
      "etc/ssl/certs/",
      "etc/ssl/certs/ca-certificates.crt",
    ]);
    await assert.rejects(
      buildEntriesLayer({
        entries: [{ path: "/etc/../../x", type: "file", mode: 0o644, uid: 0, gid: 0 }],
        store,
        epoch: EPOCH,
        compression: GZIP,
      }),
      (err: unknown) => isStrataError(err, "UNSAFE_PATH"),
    );
  });
});

describe("layer compression", () => {
  async function compress(c: Compression, chunks: Buffer[]): Promise<Buffer> {
    const out: Buffer[] = [];
    const stream = Readable.from(chunks).pipe(createCompressor(c));
    for await (const chunk of stream) out.push(chunk as Buffer);
    return Buffer.concat(out);
  }

  test("gzip and zstd bytes depend on the data only, not on how it is chunked", async () => {
    const data = Buffer.concat(
      Array.from({ length: 3000 }, (_, i) => Buffer.from(`line ${i} ${"x".repeat(i % 700)}\n`)),
    );
    const oneChunk = [data];
    const ragged: Buffer[] = [];
    for (let at = 0, n = 1; at < data.length; at += n, n = (n * 7) % 65521 || 1)
      ragged.push(data.subarray(at, at + n));
    for (const c of [resolveCompression("gzip"), resolveCompression("zstd"), resolveCompression("gzip", 9)]) {
      const a = await compress(c, oneChunk);
      assert.deepEqual(await compress(c, ragged), a, compressionIdentity(c));
      const dir = await tempDir("comp");
      await writeFile(join(dir, "blob"), a);
      const tool = c.algorithm === "gzip" ? ["gzip", "-dc"] : ["zstd", "-dc"];
      const { stdout } = await run(tool[0], [tool[1], join(dir, "blob")], {
        encoding: "buffer",
        maxBuffer: 1 << 26,
      });
      assert.deepEqual(stdout, data, `${c.algorithm} round trip`);
    }
  });

  test("identities name implementation, version and level; media types follow the algorithm", () => {
    assert.equal(
      compressionIdentity(GZIP),
      `gzip;libdeflate-wasm=${LIBDEFLATE_WASM_SHA256};level=2;pieces=1048576`,
    );
    assert.match(compressionIdentity(resolveCompression("zstd")), /^zstd;libzstd=1\.\d+\.\d+;level=3;/);
    assert.equal(layerMediaType(resolveCompression("zstd")), "application/vnd.oci.image.layer.v1.tar+zstd");
    assert.throws(
      () => resolveCompression("gzip", 12),
      (err: unknown) => isStrataError(err, "USAGE"),
    );
  });
});
