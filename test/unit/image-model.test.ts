import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { artifactDescriptor, artifactImages, descriptorOf } from "../../src/oci/image.js";
import {
  composeImage,
  imageParts,
  insertLayer,
  type Layer,
  removeLayer,
  replaceLayer,
  setAnnotations,
  setConfig,
} from "../../src/oci/mutate.js";
import { MediaType } from "../../src/oci/types.js";
import { tempDir } from "../helpers/debs.js";
import { type FakeRepo, startFakeRepo } from "../helpers/fake-repo.js";
import { buildFromRepo, modelPackages } from "../helpers/model-repo.js";

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
  test("a build of fixed packages has the digest it had before the image model was reshaped", async () => {
    const cold = await buildFromRepo(repo, dir, join(dir, "cache-pin"));
    const warm = await buildFromRepo(repo, dir, join(dir, "cache-pin"));
    assert.equal(artifactDescriptor(warm.artifact).digest, artifactDescriptor(cold.artifact).digest);
    assert.equal(
      artifactDescriptor(cold.artifact).digest,
      "sha256:ddfcd3f0f49e036c8ed3d87c92b9a03ce8ec9aee8e38077f66dfa342cfce7097",
    );
  });
});

/** A layer held in memory: what any home's layer looks like to mutate. */
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
