import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { FACTS_VERSION } from "../../src/effects/package-facts.js";
import type { PackageLayerRecord } from "../../src/layers/layer.js";
import { artifactDescriptor, artifactImages, descriptorOf } from "../../src/oci/image.js";
import { readLayout, writeLayout } from "../../src/oci/layout.js";
import { composeImage, imageParts, type Layer } from "../../src/oci/mutate.js";
import { MediaType } from "../../src/oci/types.js";
import type { BuildEvent } from "../../src/pipeline/builder.js";
import { recordedFiles } from "../../src/pipeline/recorded-files.js";
import { parseBuildRecord } from "../../src/record/build-record.js";
import { StrataAnnotation } from "../../src/record/keys.js";
import { canonicalJson, decodeLayerFacts, layerPathsOf } from "../../src/record/layer-facts.js";
import { assertRebuildable, checkRebuildable, lockOf } from "../../src/record/rebuildable.js";
import { ContentStore } from "../../src/util/cas.js";
import { isStrataError } from "../../src/util/errors.js";
import { sha256Hex } from "../../src/util/hash.js";
import { tempDir } from "../helpers/debs.js";
import { type FakeRepo, startFakeRepo } from "../helpers/fake-repo.js";
import { buildFromRepo, modelPackages } from "../helpers/model-repo.js";
import { insertLayer, removeLayer, replaceLayer, setAnnotations, setConfig } from "../helpers/mutate.js";
import { recordOf, withRecord, withRecordedLayer } from "../helpers/record.js";

let repo: FakeRepo;
let dir: string;

before(async () => {
  repo = await startFakeRepo({ packages: await modelPackages() });
  dir = await tempDir("model");
});
after(async () => {
  await repo.close();
  await rm(dir, { recursive: true, force: true });
});

describe("the image model", () => {
  // The digest was first pinned before the image model was reshaped and held through it; it changed
  // on purpose when the images began to describe themselves (annotations), and when the files layer
  // of an image whose scripts make accounts gained /etc/gshadow and the shadow group, and when gzip
  // layers became libdeflate-wasm (layer format 5; these layers are under 1 MiB, so making each layer
  // one gzip member instead of one per MiB left them as they were).
  test("a build of fixed packages has a fixed digest, cold or warm", async () => {
    const cold = await buildFromRepo(repo, dir, join(dir, "cache-pin"));
    const warm = await buildFromRepo(repo, dir, join(dir, "cache-pin"));
    assert.equal(artifactDescriptor(warm.artifact).digest, artifactDescriptor(cold.artifact).digest);
    // Annotations name the fake repository's port and key, new on every run: the config (diff_ids,
    // history) and the layer blobs are what is pinned.
    const image = artifactImages(cold.artifact)[0];
    const pinned = [image.manifest.config, ...image.manifest.layers].map((d) => d.digest).join(" ");
    assert.equal(sha256Hex(pinned), "5e1b226b2b597ee9a2eb7ccffdad0e2507a93b146c5a416c388ea973dfb190c5");
  });
});

/** A layer held in memory: what any image location's layer looks like to mutate. */
function memoryLayer(text: string): Layer {
  const bytes = Buffer.from(text);
  return {
    descriptor: descriptorOf(MediaType.ociLayerTar, bytes, { annotations: { note: text } }),
    diffId: descriptorOf(MediaType.ociLayerTar, bytes).digest,
    open: async () => Readable.from([bytes]),
  };
}

async function blobText(image: import("../../src/oci/image.js").Image, digest: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await image.blobs.open(digest)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe("mutate", () => {
  test("taking an image apart and composing it again gives the same bytes", async () => {
    const built = await buildFromRepo(repo, dir, join(dir, "cache-mutate"));
    const image = artifactImages(built.artifact)[0];
    const again = composeImage(imageParts(image));
    assert.deepEqual(again.manifestBytes, image.manifestBytes);
    assert.deepEqual(again.configBytes, image.configBytes);
  });

  test("replace, insert and remove change only the layer named and keep every other descriptor byte-identical", async () => {
    const built = await buildFromRepo(repo, dir, join(dir, "cache-mutate"));
    const image = artifactImages(built.artifact)[0];
    const old = image.manifest.layers;
    const json = (d: unknown) => JSON.stringify(d);
    const fresh = memoryLayer("new layer");

    const replaced = replaceLayer(image, 1, fresh);
    assert.equal(replaced.manifest.layers.length, old.length);
    assert.equal(json(replaced.manifest.layers[1]), json(fresh.descriptor));
    for (const i of [0, 2, 3, 4]) assert.equal(json(replaced.manifest.layers[i]), json(old[i]));
    assert.equal(replaced.config.rootfs.diff_ids[1], fresh.diffId);
    assert.deepEqual(replaced.config.history?.[1], image.config.history?.[1]);
    assert.equal(await blobText(replaced, fresh.descriptor.digest), "new layer");

    const inserted = insertLayer(image, 2, fresh, [{ created_by: "test" }]);
    assert.deepEqual(
      inserted.manifest.layers.map(json),
      [...old.slice(0, 2), fresh.descriptor, ...old.slice(2)].map(json),
    );
    assert.equal(inserted.config.history?.[2].created_by, "test");
    assert.equal(inserted.config.rootfs.diff_ids.length, old.length + 1);

    const removed = removeLayer(image, 1);
    assert.deepEqual(removed.manifest.layers.map(json), [old[0], ...old.slice(2)].map(json));
    assert.deepEqual(
      removed.config.rootfs.diff_ids,
      image.config.rootfs.diff_ids.filter((_, i) => i !== 1),
    );
    assert.equal(removed.config.history?.length, old.length - 1);
    // Layers that stay are still read from where they were.
    assert.ok((await blobText(removed, old[0].digest)).length > 0);
    assert.throws(() => removeLayer(image, old.length), RangeError);
  });

  test("config fields and annotations are set without touching the layers", async () => {
    const built = await buildFromRepo(repo, dir, join(dir, "cache-mutate"));
    const image = artifactImages(built.artifact)[0];
    const relabelled = setConfig(image, { config: { ...image.config.config, User: "nobody" } });
    assert.equal(relabelled.config.config?.User, "nobody");
    assert.deepEqual(relabelled.manifest.layers, image.manifest.layers);
    const annotated = setAnnotations(image, { "org.example.note": "x" });
    assert.equal(annotated.manifest.annotations?.["org.example.note"], "x");
    assert.deepEqual(annotated.configBytes, image.configBytes);
  });
});

describe("images that describe themselves", () => {
  test("every layer says its kind, format and packages; the record its options, lock entries, facts, inputs and the build record", async () => {
    const built = await buildFromRepo(repo, dir, join(dir, "cache-annotations"));
    const image = artifactImages(built.artifact)[0];
    const kinds = image.manifest.layers.map((l) => l.annotations?.[StrataAnnotation.layerKind]);
    assert.deepEqual(kinds, ["base", "package", "package", "package", "files"]);
    const record = await recordOf(image);
    assert.equal(
      image.manifest.annotations?.[StrataAnnotation.record],
      `sha256:${sha256Hex(canonicalJson(record))}`,
    );
    for (const [i, d] of image.manifest.layers.entries()) {
      const a = d.annotations!;
      const recorded = record.layers[i];
      assert.equal(a[StrataAnnotation.layerFormat], "5");
      assert.deepEqual([recorded.digest, recorded.diffId], [d.digest, image.config.rootfs.diff_ids[i]]);
      assert.match(
        canonicalJson(recorded.options),
        /^\{"compression":"gzip;libdeflate-wasm=[0-9a-f]{64};level=2;pieces=1048576","docs":false,"epoch":0\}$/,
      );
      const layer = built.images[0].layers[i];
      if (kinds[i] === "base" || kinds[i] === "files") {
        assert.match(recorded.inputs ?? "", /^sha256:[0-9a-f]{64}$/);
        assert.deepEqual(Object.keys(a).sort(), [StrataAnnotation.layerFormat, StrataAnnotation.layerKind]);
        continue;
      }
      const inLock = built.lock.packages.filter((p) => layer.packages.includes(`${p.name}=${p.version}`));
      assert.deepEqual(
        recorded.packages,
        inLock.map(({ arch: _a, ...p }) => JSON.parse(canonicalJson(p))),
      );
      assert.equal(a[StrataAnnotation.packages], inLock.map((p) => `${p.name}=${p.version}`).join(" "));
      assert.deepEqual(Object.keys(a).sort(), [
        StrataAnnotation.layerFormat,
        StrataAnnotation.layerKind,
        StrataAnnotation.packages,
      ]);
      const made = layer.blob as PackageLayerRecord;
      const facts = decodeLayerFacts(recorded.facts!, "test");
      assert.equal(canonicalJson(facts.members), canonicalJson(made.members));
      assert.deepEqual(layerPathsOf(facts.members), { files: made.files, dirs: made.dirs });
    }
    const tools = decodeLayerFacts(record.layers[3].facts!, "test");
    assert.match(tools.members[0].maintainerScripts.postinst ?? "", /update-alternatives/);
    assert.equal(tools.blobs.size, 1, "the file the postinst copies travels with the facts");
    assert.deepEqual(record.build.lock.releases, built.lock.releases);
    assert.deepEqual(record.build.lock.inputs, built.lock.inputs);
    assert.equal(record.build.layers.max, 100);
  });

  test("a build record whose epoch no tar header holds (99999999999999) is refused with one line", async () => {
    const built = await buildFromRepo(repo, dir, join(dir, "cache-epoch"));
    const { build } = await recordOf(artifactImages(built.artifact)[0]);
    assert.throws(
      () => parseBuildRecord({ ...build, epoch: 99999999999999 }, "img"),
      (err) => isStrataError(err, "IMAGE_NOT_REBUILDABLE") && /malformed at epoch/.test(err.message),
    );
    assert.equal(parseBuildRecord(JSON.parse(JSON.stringify(build)), "img").epoch, build.epoch);
  });

  test("accountFor gives back the lock the image was built from", async () => {
    const built = await buildFromRepo(repo, dir, join(dir, "cache-annotations"));
    const rebuildable = await assertRebuildable(artifactImages(built.artifact)[0]);
    assert.deepEqual(lockOf([rebuildable]), built.lock);
    assert.deepEqual(
      rebuildable.layers.map((l) => l.kind),
      ["base", "package", "package", "package", "files"],
    );
  });

  test("an image without a record, or whose layers or record say otherwise, is refused with its reason", async () => {
    const built = await buildFromRepo(repo, dir, join(dir, "cache-annotations"));
    const image = artifactImages(built.artifact)[0];
    const reason = async (i: typeof image) => {
      const a = await checkRebuildable(i);
      assert.equal(a.ok, false);
      return a.ok ? "" : a.reason;
    };
    assert.match(
      await reason(setAnnotations(image, { [StrataAnnotation.record]: undefined })),
      /built by an older strata: no dev\.strata\.record annotation/,
    );
    const foreign = removeLayer(
      removeLayer(setAnnotations(image, { [StrataAnnotation.record]: undefined }), 4),
      0,
    );
    const plain = imageParts(foreign);
    for (const l of plain.layers)
      l.layer = { ...l.layer, descriptor: { ...l.layer.descriptor, annotations: undefined } };
    assert.equal(await reason(composeImage(plain)), "not built by strata");
    const relabel = (key: string, value: string) => {
      const parts = imageParts(image);
      const d = parts.layers[1].layer.descriptor;
      parts.layers[1].layer = {
        ...parts.layers[1].layer,
        descriptor: { ...d, annotations: { ...d.annotations, [key]: value } },
      };
      return composeImage(parts);
    };
    assert.match(
      await reason(relabel(StrataAnnotation.layerFormat, "99")),
      /layer format 99; this strata writes format 5/,
    );
    assert.match(await reason(relabel(StrataAnnotation.layerKind, "files")), /its record says package/);
    const { facts: _f, ...noFacts } = (await recordOf(image)).layers[1];
    assert.match(
      await reason(await withRecordedLayer(image, 1, () => noFacts)),
      /has no facts in its record/,
    );
    assert.match(
      await reason(await withRecordedLayer(image, 1, (l) => ({ ...l, packages: [1] }))),
      /record is malformed at layers\.1\.packages\.0/,
    );
    assert.match(
      await reason(await withRecordedLayer(image, 1, (l) => ({ ...l, options: { ...l.options, epoch: 7 } }))),
      /was made with layer options \{.*"epoch":7\}/,
    );
    const record = await recordOf(image);
    assert.match(await reason(withRecord(image, { ...record, build: {} })), /build record is malformed/);
    await assert.rejects(
      assertRebuildable(relabel(StrataAnnotation.layerFormat, "3"), "oci:x"),
      (err: unknown) =>
        isStrataError(err, "IMAGE_NOT_REBUILDABLE") && /^oci:x: layer 1/.test((err as Error).message),
    );
  });

  test("facts that are not base64, not gzip, too big when unpacked, or name an unsafe path are refused", () => {
    const refused = (text: string, why: RegExp) =>
      assert.throws(
        () => decodeLayerFacts(text, "layer 1"),
        (err: unknown) => isStrataError(err, "IMAGE_NOT_REBUILDABLE") && why.test((err as Error).message),
      );
    const packed = (value: unknown) => gzipSync(JSON.stringify(value)).toString("base64");
    refused("not base64!", /not base64/);
    refused(Buffer.from("plain").toString("base64"), /not gzipped JSON/);
    refused(gzipSync(Buffer.alloc(65 << 20, 32)).toString("base64"), /at most/);
    // A small annotation of repeated tiny paths would expand hundreds of times: refused before parsing.
    const tiny = `{"version":${FACTS_VERSION},"members":[{"paths":[${Array(400_000).fill('["a","f",0,0,0]').join(",")}]}],"blobs":{}}`;
    refused(gzipSync(Buffer.from(tiny)).toString("base64"), /64× their size/);
    const member = {
      package: "evil",
      version: "1",
      architecture: "all",
      scripts: [],
      replaces: [],
      maintainerScripts: {},
      paths: [["../etc/passwd", "f", 420, 0, 0]],
      bodies: {},
    };
    refused(
      packed({ version: FACTS_VERSION, members: [member], blobs: {} }),
      /malformed at members\.0\.paths/,
    );
    const named = { ...member, paths: [], bodies: { "etc/x": "a".repeat(64) } };
    refused(packed({ version: FACTS_VERSION, members: [named], blobs: {} }), /do not hold it/);
    refused(
      packed({ version: FACTS_VERSION, members: [named], blobs: { ["a".repeat(64)]: "eA==" } }),
      /does not hash to/,
    );
  });
});

/** .debs the fake repository served so far. */
function debsServed(r: FakeRepo): number {
  return [...r.hits].filter(([path]) => path.endsWith(".deb")).reduce((n, [, count]) => n + count, 0);
}

describe("reusing the layers of images that exist", () => {
  test("a build on an empty cache that reuses an OCI layout of the same lock fetches no .deb and gives the same digest", async () => {
    const first = await buildFromRepo(repo, dir, join(dir, "cache-reuse-a"));
    const layout = join(dir, "layout-reuse");
    await writeLayout(layout, first.artifact, { tag: "latest" });
    const old = await readLayout(layout, "latest");
    const before = debsServed(repo);
    const events: BuildEvent[] = [];
    const again = await buildFromRepo(repo, dir, join(dir, "cache-reuse-b"), {
      build: { reuse: [old], onEvent: (e) => events.push(e) },
    });
    assert.equal(debsServed(repo), before, "no .deb fetched");
    assert.equal(artifactDescriptor(again.artifact).digest, artifactDescriptor(first.artifact).digest);
    const reused = events.filter((e) => e.kind === "layer" && e.reusedFrom !== undefined);
    assert.equal(reused.length, 3);
    // The files layer's inputs were made again from the annotations' facts alone: equal to the old
    // one's, so its descriptor was kept and nothing written, like the base layer's.
    const madeHere = new ContentStore(join(dir, "cache-reuse-b", "blobs"));
    for (const l of again.images[0].layers)
      assert.equal(existsSync(madeHere.path(l.blob.digest.slice(7))), false);
  });

  test("after a one-package change, only that package's .deb is fetched and the image equals a fresh build", async () => {
    const first = await buildFromRepo(repo, dir, join(dir, "cache-change-a"));
    const changed = await startFakeRepo({ packages: await modelPackages("1.1") });
    try {
      const reusing = await buildFromRepo(changed, dir, join(dir, "cache-change-b"), {
        build: { reuse: [first.artifact] },
      });
      assert.deepEqual(
        [...changed.hits].filter(([p]) => p.endsWith(".deb")).map(([p]) => p.split("/").at(-1)),
        ["libfoo_1.1_all.deb"],
      );
      const fresh = await buildFromRepo(changed, dir, join(dir, "cache-change-c"));
      assert.equal(artifactDescriptor(reusing.artifact).digest, artifactDescriptor(fresh.artifact).digest);
      const oldLayers = artifactImages(first.artifact)[0].manifest.layers.map((l) => l.digest);
      const newLayers = artifactImages(reusing.artifact)[0].manifest.layers.map((l) => l.digest);
      assert.deepEqual(
        newLayers.filter((d) => !oldLayers.includes(d)).length,
        1,
        "only libfoo's layer is new",
      );
    } finally {
      await changed.close();
    }
  });

  test("an image strata cannot rebuild from its record is noted and not reused", async () => {
    const first = await buildFromRepo(repo, dir, join(dir, "cache-refuse-a"));
    const stripped = setAnnotations(artifactImages(first.artifact)[0], {
      [StrataAnnotation.record]: undefined,
    });
    const notes: string[] = [];
    const before = debsServed(repo);
    await buildFromRepo(repo, dir, join(dir, "cache-refuse-b"), {
      build: {
        reuse: [{ kind: "image", image: stripped }],
        onEvent: (e) => (e.kind === "note" ? notes.push(e.message) : undefined),
      },
    });
    assert.equal(debsServed(repo) - before, 3);
    assert.ok(
      notes.some((n) => /not reusing layers of sha256:[0-9a-f]{64}: built by an older strata/.test(n)),
      notes.join("\n"),
    );
  });

  test("a layer whose facts do not match its packages is made from its .deb instead, with a note", async () => {
    const first = await buildFromRepo(repo, dir, join(dir, "cache-crafted-a"));
    const image = artifactImages(first.artifact)[0];
    // Layer 1 claims layer 2's facts: another package than its lock entries name.
    const { facts } = (await recordOf(image)).layers[2];
    const crafted = await withRecordedLayer(image, 1, (l) => ({ ...l, facts }));
    const notes: string[] = [];
    const before = debsServed(repo);
    const again = await buildFromRepo(repo, dir, join(dir, "cache-crafted-b"), {
      build: {
        reuse: [{ kind: "image", image: crafted }],
        onEvent: (e) => (e.kind === "note" ? notes.push(e.message) : undefined),
      },
    });
    assert.equal(debsServed(repo) - before, 1);
    assert.ok(
      notes.some((n) => /^not reusing \S+ 1\.0: the lock says/.test(n)),
      notes.join("\n"),
    );
    assert.equal(artifactDescriptor(again.artifact).digest, artifactDescriptor(first.artifact).digest);
  });

  test("the spec's files come back from the image's files layer, so a rebuild without the spec gives the same digest", async () => {
    const files = 'files:\n  - path: /etc/app.conf\n    content: "x=1\\n"\n    mode: "0640"\n';
    const first = await buildFromRepo(repo, dir, join(dir, "cache-files"), {
      extra: `exclude: [base-files]\n${files}`,
    });
    const image = artifactImages(first.artifact)[0];
    const record = (await recordOf(image)).build;
    assert.deepEqual(record.files, [
      { path: "/etc/app.conf", mode: 0o640, uid: 0, gid: 0, sha256: sha256Hex("x=1\n"), size: 4 },
    ]);
    const entries = await recordedFiles(image, record, "test");
    assert.equal(entries[0].body?.toString(), "x=1\n");
    const again = await buildFromRepo(repo, dir, join(dir, "cache-files"), { build: { specFiles: entries } });
    assert.equal(artifactDescriptor(again.artifact).digest, artifactDescriptor(first.artifact).digest);
    const damaged = { ...record, files: [{ ...record.files[0], sha256: "0".repeat(64) }] };
    await assert.rejects(recordedFiles(image, damaged, "oci:x"), (err: unknown) =>
      isStrataError(err, "IMAGE_NOT_REBUILDABLE"),
    );
  });
});
