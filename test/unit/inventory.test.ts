import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { readInventory } from "../../src/inventory/inventory.js";
import type { BlobSource, Image } from "../../src/oci/image.js";
import { StrataAnnotation } from "../../src/record/keys.js";
import { isStrataError } from "../../src/util/errors.js";
import { sha256Hex } from "../../src/util/hash.js";
import { dpkgStanza, layerOf, type TestEntry } from "../helpers/layer-tar.js";
import { MemoryBlobSource, type SyntheticLayer, syntheticImage } from "../helpers/synthetic-image.js";

const STATUS_D = "var/lib/dpkg/status.d";

/** An image of `layers` whose blob source counts the layers opened. */
function counted(layers: SyntheticLayer[]): { image: Image; opened: string[] } {
  const memory = new MemoryBlobSource();
  for (const l of layers) memory.add(l.descriptor.digest, l.bytes);
  const opened: string[] = [];
  const blobs: BlobSource = {
    open: (digest) => {
      opened.push(digest);
      return memory.open(digest);
    },
  };
  return { image: syntheticImage(layers, { blobs }), opened };
}

/** A layer like strata's: the package's status.d record, and annotations naming its kind and package. */
function strataLayer(
  p: { name: string; version: string; arch?: string; source?: string },
  extra: Record<string, string> = {},
) {
  return layerOf([{ path: `${STATUS_D}/${p.name}`, body: dpkgStanza(p) }], {
    annotations: {
      [StrataAnnotation.layerKind]: "package",
      [StrataAnnotation.packages]: `${p.name}=${p.version}`,
      ...extra,
    },
  });
}

function names(inventory: { packages: { name: string; version: string }[] }): string[] {
  return inventory.packages.map((p) => `${p.name}=${p.version}`);
}

const statusD = (p: Parameters<typeof dpkgStanza>[0]): TestEntry => ({
  path: `${STATUS_D}/${p.name}`,
  body: dpkgStanza(p),
});

describe("the package inventory of an image", () => {
  test("a strata image without a record has its packages from its layer annotations, and no layer is read", async () => {
    const base = await layerOf([{ path: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n" }], {
      annotations: { [StrataAnnotation.layerKind]: "base" },
    });
    const layers = [
      base,
      await strataLayer({ name: "libc6", version: "2.36-9" }),
      await strataLayer({ name: "zlib1g", version: "1:1.2.13-1" }),
    ];
    const { image, opened } = counted(layers);
    const inventory = await readInventory(image, "test");
    assert.equal(inventory.from, "annotations");
    assert.deepEqual(names(inventory), ["libc6=2.36-9", "zlib1g=1:1.2.13-1"]);
    assert.deepEqual(inventory.packages[1].layer, { index: 2, digest: layers[2].descriptor.digest });
    assert.equal(inventory.partial, 2, "plain annotations carry no architecture or source");
    assert.deepEqual(opened, []);
  });

  test("the image's record gives architecture, source and the .deb sha256 without reading the layer", async () => {
    const pkg = {
      name: "libpython3.11",
      version: "3.11.2-6",
      source: "python3.11",
      sourceVersion: "3.11.2-6",
    };
    const layer = await strataLayer(pkg);
    const { image, opened } = counted([{ ...layer, recorded: [pkg] }]);
    const sha = sha256Hex("libpython3.11=3.11.2-6");
    const [p] = (await readInventory(image, "test")).packages;
    assert.deepEqual(
      { arch: p.architecture, source: p.source, sv: p.sourceVersion, sha: p.debSha256, from: p.from },
      { arch: "amd64", source: "python3.11", sv: "3.11.2-6", sha, from: "annotation" },
    );
    assert.deepEqual(opened, []);
  });

  test("asked to complete a plainly annotated layer, the inventory reads that layer's status.d only", async () => {
    const layers = [
      await strataLayer({ name: "libssl3", version: "3.0.15-1~deb12u1", source: "openssl" }),
      await strataLayer({ name: "zlib1g", version: "1:1.2.13-1" }),
    ];
    const { image, opened } = counted(layers);
    const want = layers[0].descriptor.digest;
    const inventory = await readInventory(image, "test", { complete: (l) => l.digest === want });
    const ssl = inventory.packages.find((p) => p.name === "libssl3")!;
    assert.deepEqual(
      [ssl.source, ssl.sourceVersion, ssl.architecture, ssl.from],
      ["openssl", "3.0.15-1~deb12u1", "amd64", "status.d"],
    );
    assert.equal(inventory.partial, 1);
    assert.deepEqual(opened, [want]);
  });

  test("a layer annotated with one package whose status.d records another is refused", async () => {
    const layer = await layerOf([statusD({ name: "openssl", version: "9.9-9" })], {
      annotations: {
        [StrataAnnotation.layerKind]: "package",
        [StrataAnnotation.packages]: "zlib1g=1:1.2.13-1",
      },
    });
    await assert.rejects(
      readInventory(syntheticImage([layer]), "test", { complete: () => true }),
      (err) =>
        isStrataError(err, "IO") &&
        /annotated with zlib1g=1:1.2.13-1 but its status.d records openssl=9.9-9/.test(err.message),
    );
  });

  test("status.d records across gzip, zstd and plain layers; a whiteout in an upper layer removes a package", async () => {
    const layers = [
      await layerOf(
        [
          { path: "var/" },
          { path: "var/lib/dpkg/status.d/" },
          statusD({ name: "base-files", version: "12.4+deb12u10" }),
        ],
        { compression: "gzip" },
      ),
      await layerOf(
        [
          statusD({ name: "libc6", version: "2.36-9+deb12u9", source: "glibc" }),
          { path: `${STATUS_D}/libc6.md5sums`, body: "x  usr/lib/x\n" },
        ],
        { compression: "zstd" },
      ),
      await layerOf([statusD({ name: "tzdata", version: "2025b-0+deb12u1", arch: "all" })], {
        compression: "none",
      }),
      await layerOf([{ path: `${STATUS_D}/.wh.tzdata`, body: "" }]),
    ];
    const inventory = await readInventory(syntheticImage(layers), "test");
    assert.equal(inventory.from, "layers");
    assert.deepEqual(names(inventory), ["base-files=12.4+deb12u10", "libc6=2.36-9+deb12u9"]);
    const libc = inventory.packages[1];
    assert.deepEqual(
      [libc.source, libc.sourceVersion, libc.layer.index, libc.from],
      ["glibc", "2.36-9+deb12u9", 1, "status.d"],
    );
  });

  test("an opaque status.d hides every lower record but keeps the ones of its own layer", async () => {
    const layers = [
      await layerOf([statusD({ name: "a", version: "1" }), statusD({ name: "b", version: "1" })]),
      await layerOf([{ path: `${STATUS_D}/.wh..wh..opq`, body: "" }, statusD({ name: "c", version: "2" })]),
      await layerOf([statusD({ name: "d", version: "3" })]),
    ];
    assert.deepEqual(names(await readInventory(syntheticImage(layers), "test")), ["c=2", "d=3"]);
  });

  test("a whiteout of an ancestor (var/lib/.wh.dpkg) and a file over status.d hide the records below", async () => {
    const ancestor = [
      await layerOf([statusD({ name: "a", version: "1" })]),
      await layerOf([{ path: "var/lib/.wh.dpkg", body: "" }]),
    ];
    assert.deepEqual(names(await readInventory(syntheticImage(ancestor), "test")), []);
    const fileOverDir = [
      await layerOf([statusD({ name: "a", version: "1" })]),
      await layerOf([{ path: STATUS_D, body: "not a directory any more" }]),
    ];
    assert.deepEqual(names(await readInventory(syntheticImage(fileOverDir), "test")), []);
  });

  test("dpkg's status database: installed packages only, the upper layer's copy wins, status.d first", async () => {
    const db = (stanzas: string[]) => ({ path: "var/lib/dpkg/status", body: stanzas.join("\n") });
    const layers = [
      await layerOf([
        db([dpkgStanza({ name: "bash", version: "5.2.15-2+b7" }), dpkgStanza({ name: "old", version: "1" })]),
      ]),
      await layerOf([
        db([
          dpkgStanza({ name: "bash", version: "5.2.15-2+b8", source: "bash (5.2.15-2)" }),
          dpkgStanza({ name: "old", version: "1", status: "deinstall ok config-files" }),
          dpkgStanza({ name: "libc6", version: "2.36-9" }),
        ]),
        statusD({ name: "libc6", version: "2.36-9+deb12u9" }),
      ]),
    ];
    const inventory = await readInventory(syntheticImage(layers), "test");
    assert.deepEqual(names(inventory), ["bash=5.2.15-2+b8", "libc6=2.36-9+deb12u9"]);
    const bash = inventory.packages[0];
    assert.deepEqual(
      [bash.source, bash.sourceVersion, bash.from, bash.layer.index],
      ["bash", "5.2.15-2", "status", 1],
    );
    assert.equal(inventory.packages[1].from, "status.d");
  });

  test("hostile records are refused with the layer and path named, never used", async () => {
    const cases: [TestEntry, RegExp][] = [
      [
        { path: `${STATUS_D}/x`, body: "Package: ../../etc\nVersion: 1\n" },
        /\/var\/lib\/dpkg\/status.d\/x: package name "..\/..\/etc" is not valid/,
      ],
      [
        { path: `${STATUS_D}/x`, body: "Package: x\nVersion: 1\nArchitecture: am d64\n" },
        /x: architecture "am d64" is not valid/,
      ],
      [
        { path: `${STATUS_D}/x`, body: "Package: x\nVersion: 1\nSource: a b c\n" },
        /x: Source "a b c" is not valid/,
      ],
      [
        { path: `${STATUS_D}/x`, body: Buffer.alloc((1 << 20) + 1, 0x41) },
        /var\/lib\/dpkg\/status.d\/x is 1048577 bytes, more than the 1048576 read/,
      ],
      [{ path: "../../var/lib/dpkg/status", body: "" }, /leaves the root/],
    ];
    for (const [entry, pattern] of cases) {
      const image = syntheticImage([await layerOf([entry])]);
      await assert.rejects(
        readInventory(image, "img"),
        (err) => isStrataError(err) && pattern.test(err.message),
        String(pattern),
      );
    }
  });

  test("a layer of a media type that is not a tar is an error, never a guess", async () => {
    const layer = await layerOf([statusD({ name: "a", version: "1" })]);
    layer.descriptor.mediaType = "application/vnd.example.unknown";
    await assert.rejects(
      readInventory(syntheticImage([layer]), "img"),
      /media type application\/vnd.example.unknown, not a tar strata reads/,
    );
  });
});
