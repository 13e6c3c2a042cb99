import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { readOciArchive, writeDockerArchive, writeOciArchive } from "../../src/oci/archive.js";
import { artifactDescriptor, imageDescriptor } from "../../src/oci/image.js";
import { listLayout, readLayout, writeLayout } from "../../src/oci/layout.js";
import { Annotation, digestHex } from "../../src/oci/types.js";
import { ContentStore, verifiedInThisProcess } from "../../src/util/cas.js";
import { isStrataError } from "../../src/util/errors.js";
import { sha256File } from "../../src/util/hash.js";
import { podman as podmanIn } from "../helpers/podman.js";
import {
  freshImage,
  imageArtifact,
  storeBlobSource,
  syntheticImage,
  syntheticIndex,
} from "../helpers/synthetic-image.js";

const run = promisify(execFile);

async function readAllBlob(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe("OCI image layout and archives", () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "strata-layout-"));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test("an image written to a layout reads back with the same digests and bytes", async () => {
    const { image, layers } = await freshImage(3);
    const dir = join(work, "roundtrip");
    const entry = await writeLayout(dir, imageArtifact(image), { tag: "v1" });
    assert.equal(entry.digest, imageDescriptor(image).digest);
    assert.equal(entry.annotations?.[Annotation.refName], "v1");
    assert.deepEqual(JSON.parse(await readFile(join(dir, "oci-layout"), "utf8")), {
      imageLayoutVersion: "1.0.0",
    });

    const back = await readLayout(dir, "v1");
    assert.equal(back.kind, "image");
    if (back.kind !== "image") return;
    assert.deepEqual(back.image.manifestBytes, image.manifestBytes);
    assert.deepEqual(back.image.configBytes, image.configBytes);
    for (const layer of layers) {
      assert.deepEqual(await readAllBlob(await back.image.blobs.open(layer.descriptor.digest)), layer.bytes);
    }
    assert.equal((await readLayout(dir, entry.digest)).kind, "image");
    assert.equal((await readLayout(dir)).kind, "image");
  });

  test("layer blobs with a local file are hardlinked into the layout", async () => {
    const store = new ContentStore(join(work, "cas"));
    const { layers } = await freshImage(1);
    await store.putVerified(Readable.from([layers[0].bytes]), digestHex(layers[0].descriptor.digest));
    const image = syntheticImage(layers, { blobs: storeBlobSource(store) });
    const dir = join(work, "linked");
    await writeLayout(dir, imageArtifact(image));
    const hex = digestHex(layers[0].descriptor.digest);
    const [inLayout, inStore] = await Promise.all([
      stat(join(dir, "blobs/sha256", hex)),
      stat(store.path(hex)),
    ]);
    assert.equal(inLayout.ino, inStore.ino);
  });

  test("a local blob file whose bytes do not match its digest is refused with HASH_MISMATCH", async () => {
    const { layers } = await freshImage(1);
    const bogusDir = join(work, "bogus-store");
    const store = new ContentStore(bogusDir);
    const hex = digestHex(layers[0].descriptor.digest);
    await store.putVerified(Readable.from([layers[0].bytes]), hex);
    const tampered = Buffer.from(layers[0].bytes);
    tampered[tampered.length - 1] ^= 0xff;
    await rm(store.path(hex));
    await writeFile(store.path(hex), tampered);
    const image = syntheticImage(layers, { blobs: storeBlobSource(store) });
    const dir = join(work, "refused");
    await assert.rejects(writeLayout(dir, imageArtifact(image)), (err) =>
      isStrataError(err, "HASH_MISMATCH"),
    );
    assert.equal(await stat(dir).catch(() => undefined), undefined, "no layout, not even a torn one");
    const left = (await readdir(work)).filter((n) => n.startsWith(".refused."));
    assert.deepEqual(left, [], "no temp sibling is left");
  });

  test("a store blob verified in this process and changed since (same size) is hashed again and refused", async () => {
    const { layers } = await freshImage(1);
    const store = new ContentStore(join(work, "verified-store"));
    const hex = digestHex(layers[0].descriptor.digest);
    await store.putVerified(Readable.from([layers[0].bytes]), hex);
    assert.ok(await store.has(hex, { verify: true }), "verified, and remembered as verified");
    assert.deepEqual(await verifiedInThisProcess(store.path(hex), hex), {
      hex,
      size: layers[0].bytes.length,
    });
    const image = syntheticImage(layers, { blobs: storeBlobSource(store) });
    await writeLayout(join(work, "from-verified"), imageArtifact(image));
    // Past the file system's timestamp granularity, then the same size written in place.
    await new Promise((r) => setTimeout(r, 30));
    const tampered = Buffer.from(layers[0].bytes);
    tampered[tampered.length - 1] ^= 0xff;
    await writeFile(store.path(hex), tampered);
    assert.equal(await verifiedInThisProcess(store.path(hex), hex), undefined);
    await assert.rejects(writeLayout(join(work, "from-changed"), imageArtifact(image)), (err) =>
      isStrataError(err, "HASH_MISMATCH"),
    );
  });

  test("a file renamed over a verified store blob (same size, same mtime) is another inode: hashed and refused", async () => {
    const { layers } = await freshImage(1);
    const store = new ContentStore(join(work, "swapped-store"));
    const hex = digestHex(layers[0].descriptor.digest);
    await store.putVerified(Readable.from([layers[0].bytes]), hex);
    assert.ok(await store.has(hex, { verify: true }));
    const { mtime } = await stat(store.path(hex));
    const tampered = Buffer.from(layers[0].bytes);
    tampered[0] ^= 0xff;
    const sibling = `${store.path(hex)}.other`;
    await writeFile(sibling, tampered);
    await utimes(sibling, mtime, mtime);
    await rename(sibling, store.path(hex));
    const image = syntheticImage(layers, { blobs: storeBlobSource(store) });
    await assert.rejects(writeLayout(join(work, "from-swapped"), imageArtifact(image)), (err) =>
      isStrataError(err, "HASH_MISMATCH"),
    );
  });

  test("an existing layout is refused without force, replaced with force", async () => {
    const dir = join(work, "exists");
    const first = await freshImage(1);
    await writeLayout(dir, imageArtifact(first.image), { tag: "a" });
    const second = await freshImage(1);
    await assert.rejects(
      writeLayout(dir, imageArtifact(second.image), { tag: "b" }),
      (err) => isStrataError(err, "OUTPUT_EXISTS") && /pass --force/.test(err.hint ?? ""),
    );
    await writeLayout(dir, imageArtifact(second.image), { tag: "b", force: true });
    const entries = await listLayout(dir);
    assert.deepEqual(
      entries.map((e) => e.annotations?.[Annotation.refName]),
      ["b"],
    );
    const blobNames = await readdir(join(dir, "blobs/sha256"));
    assert.ok(!blobNames.includes(digestHex(first.layers[0].descriptor.digest)), "old blobs are gone");
  });

  test("a non-empty directory that is not a layout is never replaced, even with force", async () => {
    const dir = join(work, "precious");
    await mkdir(dir);
    await writeFile(join(dir, "notes.txt"), "keep me");
    const { image } = await freshImage(1);
    await assert.rejects(writeLayout(dir, imageArtifact(image), { force: true }), (err) =>
      isStrataError(err, "OUTPUT_EXISTS"),
    );
    assert.equal(await readFile(join(dir, "notes.txt"), "utf8"), "keep me");
  });

  test("append adds a second tag, replaces a tag of the same name, and keeps shared blobs once", async () => {
    const dir = join(work, "append");
    const base = await freshImage(2);
    const extra = await freshImage(1);
    const v2 = syntheticImage([...base.layers, ...extra.layers]);
    await writeLayout(dir, imageArtifact(base.image), { tag: "v1" });
    await writeLayout(dir, imageArtifact(v2), { tag: "v2", append: true });
    await writeLayout(dir, imageArtifact(v2), { tag: "v1", append: true });
    const entries = await listLayout(dir);
    assert.deepEqual(
      entries.map((e) => [e.annotations?.[Annotation.refName], e.digest]),
      [
        ["v2", imageDescriptor(v2).digest],
        ["v1", imageDescriptor(v2).digest],
      ],
    );
    await assert.rejects(readLayout(dir), (err) => isStrataError(err, "USAGE") && /v2, v1/.test(err.message));
    await assert.rejects(readLayout(dir, "nope"), (err) => isStrataError(err, "USAGE"));
  });

  test("a blob tampered in the layout fails with HASH_MISMATCH when read to its end", async () => {
    const { image, layers } = await freshImage(1);
    const dir = join(work, "tamper");
    await writeLayout(dir, imageArtifact(image));
    const path = join(dir, "blobs/sha256", digestHex(layers[0].descriptor.digest));
    const bytes = await readFile(path);
    bytes[10] ^= 0x01;
    await writeFile(path, bytes);
    const back = await readLayout(dir);
    if (back.kind !== "image") assert.fail("expected an image");
    await assert.rejects(readAllBlob(await back.image.blobs.open(layers[0].descriptor.digest)), (err) =>
      isStrataError(err, "HASH_MISMATCH"),
    );
  });

  test("an index of two platforms round-trips and skopeo and umoci read the layout (runs skopeo, umoci)", async () => {
    const amd = await freshImage(2);
    const arm = syntheticImage([amd.layers[0]], {
      platform: { architecture: "arm64", os: "linux", variant: "v8" },
      blobs: amd.image.blobs,
    });
    const artifact = syntheticIndex([amd.image, arm]);
    const dir = join(work, "index");
    await writeLayout(dir, artifact, { tag: "multi" });
    const back = await readLayout(dir, "multi");
    assert.equal(back.kind, "index");
    if (back.kind !== "index") return;
    assert.equal(artifactDescriptor(back).digest, artifactDescriptor(artifact).digest);
    assert.deepEqual(
      back.index.images.map((i) => i.config.architecture),
      ["amd64", "arm64"],
    );

    const { stdout } = await run("skopeo", ["inspect", "--raw", `oci:${dir}:multi`]);
    assert.equal(JSON.parse(stdout).manifests.length, 2);
    const single = join(work, "single");
    await writeLayout(single, imageArtifact(amd.image), { tag: "latest" });
    const inspected = JSON.parse((await run("skopeo", ["inspect", `oci:${single}:latest`])).stdout);
    assert.equal(inspected.Digest, imageDescriptor(amd.image).digest);
    assert.deepEqual(
      inspected.Layers,
      amd.image.manifest.layers.map((l) => l.digest),
    );
    const umoci = await run("umoci", ["stat", "--image", `${single}:latest`, "--json"]);
    assert.equal(JSON.parse(umoci.stdout).history, null);
    const listed = await run("umoci", ["ls", "--layout", single]);
    assert.equal(listed.stdout.trim(), "latest");
  });

  test("readLayout names a missing layout clearly", async () => {
    await assert.rejects(readLayout(join(work, "nowhere")), (err) => isStrataError(err, "USAGE"));
    await assert.rejects(
      readLayout(work),
      (err) => isStrataError(err, "USAGE") && /no oci-layout/.test(err.message),
    );
  });

  test("an oci-archive is byte-identical when written twice, skopeo reads it, readOciArchive reads it back (runs skopeo)", async () => {
    const amd = await freshImage(2);
    const arm = syntheticImage([amd.layers[1]], {
      platform: { architecture: "arm64", os: "linux" },
      blobs: amd.image.blobs,
    });
    const artifact = syntheticIndex([amd.image, arm]);
    const [first, second] = [join(work, "a.oci.tar"), join(work, "b.oci.tar")];
    await writeOciArchive(first, artifact, { tag: "multi" });
    await writeOciArchive(second, artifact, { tag: "multi" });
    assert.equal((await sha256File(first)).hex, (await sha256File(second)).hex);

    const raw = JSON.parse((await run("skopeo", ["inspect", "--raw", `oci-archive:${first}:multi`])).stdout);
    assert.deepEqual(
      raw.manifests.map((m: { digest: string }) => m.digest),
      [imageDescriptor(amd.image).digest, imageDescriptor(arm).digest],
    );
    const back = await readOciArchive(first, "multi");
    assert.equal(artifactDescriptor(back).digest, artifactDescriptor(artifact).digest);
    if (back.kind !== "index") assert.fail("expected an index");
    const layer = amd.layers[1];
    assert.deepEqual(
      await readAllBlob(await back.index.images[1].blobs.open(layer.descriptor.digest)),
      layer.bytes,
    );
  });

  test("a blob tampered inside an oci-archive fails with HASH_MISMATCH when read", async () => {
    const { image, layers } = await freshImage(1);
    const file = join(work, "tamper.oci.tar");
    await writeOciArchive(file, imageArtifact(image));
    const bytes = await readFile(file);
    const at = bytes.indexOf(layers[0].bytes.subarray(20, 60));
    bytes[at] ^= 0xff;
    await writeFile(file, bytes);
    const back = await readOciArchive(file);
    if (back.kind !== "image") assert.fail("expected an image");
    await assert.rejects(readAllBlob(await back.image.blobs.open(layers[0].descriptor.digest)), (err) =>
      isStrataError(err, "HASH_MISMATCH"),
    );
  });

  test("a docker-archive is read by skopeo and loaded by podman with its tag (runs skopeo; podman as root, vfs storage)", async (t) => {
    const { image } = await freshImage(2);
    const file = join(work, "image.docker.tar");
    await writeDockerArchive(file, image, { repoTags: ["localhost/strata/archive-test:v1"] });
    const inspected = JSON.parse((await run("skopeo", ["inspect", `docker-archive:${file}`])).stdout);
    assert.deepEqual(inspected.Layers, image.config.rootfs.diff_ids);
    const copied = join(work, "from-docker-archive");
    await run("skopeo", ["copy", `docker-archive:${file}`, `oci:${copied}:v1`]);
    const back = await readLayout(copied, "v1");
    if (back.kind !== "image") assert.fail("expected an image");
    assert.deepEqual(back.image.configBytes, image.configBytes);

    if (process.getuid?.() !== 0) {
      t.skip("podman load needs root here");
      return;
    }
    const store = join(work, "podman");
    const podman = (...args: string[]) => podmanIn(store, ...args);
    try {
      const loaded = await podman("load", "-i", file);
      assert.match(loaded.stdout, /Loaded image: localhost\/strata\/archive-test:v1/);
      const images = JSON.parse(
        (await podman("image", "inspect", "localhost/strata/archive-test:v1")).stdout,
      );
      assert.equal(images[0].Id, digestHex(image.manifest.config.digest));
    } finally {
      await rm(store, { recursive: true, force: true });
    }
  });

  test("docker-archive tags must be name:tag", async () => {
    const { image } = await freshImage(1);
    await assert.rejects(
      writeDockerArchive(join(work, "bad.tar"), image, { repoTags: ["app@sha256:" + "0".repeat(64)] }),
      (err) => isStrataError(err, "USAGE"),
    );
  });
});
