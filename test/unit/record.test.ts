import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { writeDockerArchive } from "../../src/oci/archive.js";
import { resolveCompression } from "../../src/oci/compress.js";
import {
  type Artifact,
  artifactImages,
  type Image,
  imageDescriptor,
  MissingBlobError,
} from "../../src/oci/image.js";
import { readDockerArchive } from "../../src/oci/locations/docker-archive.js";
import { readLocation, writeLocation } from "../../src/oci/locations/locations.js";
import type { ImageLocation } from "../../src/oci/locations/name.js";
import { composeImage, imageParts } from "../../src/oci/mutate.js";
import { MediaType } from "../../src/oci/types.js";
import { RECORD_ARTIFACT_TYPE, StrataAnnotation } from "../../src/record/keys.js";
import { canonicalJson } from "../../src/record/layer-facts.js";
import { entriesLayerRecord, layerAnnotations, packageLayerRecord } from "../../src/record/layer-record.js";
import { checkRebuildable } from "../../src/record/rebuildable.js";
import { MAX_RECORD_BYTES, readImageRecord, recordBlob } from "../../src/record/record.js";
import { withRecords } from "../../src/record/travel.js";
import { isStrataError, StrataError } from "../../src/util/errors.js";
import { sha256Hex } from "../../src/util/hash.js";
import { run, tempDir } from "../helpers/debs.js";
import { type FakeRepo, startFakeRepo } from "../helpers/fake-repo.js";
import { buildFromRepo, modelPackages } from "../helpers/model-repo.js";
import { removeLayer, setAnnotations } from "../helpers/mutate.js";
import { withRecord } from "../helpers/record.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";

let repo: FakeRepo;
let dir: string;
let built: Image;

before(async () => {
  repo = await startFakeRepo({ packages: await modelPackages() });
  dir = await tempDir("record");
  built = artifactImages((await buildFromRepo(repo, dir, join(dir, "cache"))).artifact)[0];
});
after(async () => {
  await repo.close();
  await rm(dir, { recursive: true, force: true });
});

/** `image` whose blob source serves `open` for every blob but its layers and config. */
function serving(image: Image, open: (digest: string) => Promise<Readable>): Image {
  return composeImage({ ...imageParts(image), others: { open } });
}

async function refusal(image: Image): Promise<string> {
  const err = await readImageRecord(image, "oci:x").then(
    () => assert.fail("the record was accepted"),
    (e: unknown) => e,
  );
  assert.ok(isStrataError(err, "IMAGE_NOT_REBUILDABLE"), String(err));
  assert.doesNotMatch(err.message, /\n/);
  assert.ok(err.hint);
  return err.message;
}

describe("the image record", () => {
  test("is one canonical JSON blob the manifest names by digest, read back as written", async () => {
    const record = await readImageRecord(built, "test");
    const { descriptor, bytes } = recordBlob(record);
    assert.equal(built.manifest.annotations?.[StrataAnnotation.record], descriptor.digest);
    assert.equal(bytes.toString(), canonicalJson(record));
    assert.deepEqual(
      record.layers.map((l) => [l.digest, l.diffId]),
      built.manifest.layers.map((l, i) => [l.digest, built.config.rootfs.diff_ids[i]]),
    );
  });

  test("missing from the image's blobs is refused with one line that says so", async () => {
    const message = await refusal(
      serving(built, async (digest) => {
        throw new MissingBlobError("IO", `no blob ${digest}`);
      }),
    );
    assert.match(message, /^oci:x: its record sha256:[0-9a-f]{64} is missing \(no blob sha256:/);
  });

  test("a failure to read it is not a refusal: it keeps its code, in one line with a hint", async () => {
    const failing = serving(built, async () => {
      throw new StrataError("REGISTRY", "registry.test: get blob: unreachable after 5 attempts");
    });
    await assert.rejects(
      readImageRecord(failing, "oci:x"),
      (err: unknown) =>
        isStrataError(err, "REGISTRY") &&
        /^oci:x: its record sha256:[0-9a-f]{64} could not be read: registry\.test: get blob: unreachable/.test(
          err.message,
        ) &&
        err.hint !== undefined,
    );
  });

  test("is read once per image however often it is asked for, and a failed read is not kept", async () => {
    const named = built.manifest.annotations![StrataAnnotation.record];
    let opens = 0;
    let failNext = true;
    const image = serving(built, async (digest) => {
      if (digest === named) opens++;
      if (failNext) {
        failNext = false;
        throw new StrataError("REGISTRY", "registry.test: get blob: unreachable");
      }
      return built.blobs.open(digest);
    });
    await assert.rejects(readImageRecord(image, "oci:x"), (err) => isStrataError(err, "REGISTRY"));
    const first = await readImageRecord(image, "oci:x");
    const again = await readImageRecord(image, "oci:y");
    assert.equal(again, first);
    assert.equal(opens, 2, "the failed read, then one read for both asks");
  });

  test("bytes that are not the digest the manifest names are refused", async () => {
    const other = Buffer.from(canonicalJson(await readImageRecord(built, "test")))
      .toString()
      .replace("1", "2");
    const message = await refusal(serving(built, async () => Readable.from([Buffer.from(other)])));
    assert.match(message, /its record does not match its manifest: the blob is not sha256:/);
  });

  test("a record of other layers than the manifest's is refused", async () => {
    // The image without a layer still names the whole image's record.
    assert.match(await refusal(removeLayer(built, 1)), /the record's layers are not the manifest's layers/);
    const record = await readImageRecord(built, "test");
    const swapped = {
      ...record,
      layers: record.layers.map((l, i) => (i === 1 ? { ...l, diffId: l.digest } : l)),
    };
    assert.match(await refusal(withRecord(built, swapped)), /not the manifest's layers and diff IDs/);
  });

  test("a record larger than the bound is refused before it is all read", async () => {
    let served = 0;
    const chunk = Buffer.alloc(1 << 20, 32);
    const endless = Readable.from(
      (function* () {
        for (;;) {
          served += chunk.length;
          yield chunk;
        }
      })(),
    );
    const message = await refusal(serving(built, async () => endless));
    assert.match(message, new RegExp(`is more than ${MAX_RECORD_BYTES} bytes`));
    assert.ok(served <= MAX_RECORD_BYTES + 2 * chunk.length, `${served} bytes read`);
  });

  test("a record that is not JSON, not of this version, or malformed is refused with where", async () => {
    assert.match(await refusal(withRecord(built, Buffer.from("{not json"))), /its record is not JSON/);
    const record = await readImageRecord(built, "test");
    assert.match(await refusal(withRecord(built, { ...record, version: 2 })), /malformed at version/);
    const extra = { ...record, layers: record.layers.map((l) => ({ ...l, evil: 1 })) };
    assert.match(await refusal(withRecord(built, extra)), /malformed at layers\.0/);
    const notDigest = setAnnotations(built, { [StrataAnnotation.record]: "../../etc/passwd" });
    assert.match(await refusal(notDigest), /dev\.strata\.record annotation is not a sha256 digest/);
  });
});

describe("the manifest stays small", () => {
  test("a 100-layer manifest as strata writes it is at most 32 KiB", () => {
    const options = { epoch: 0, keepDocs: false, compression: resolveCompression("gzip") };
    const entries = (kind: "base" | "files", i: number) =>
      entriesLayerRecord(kind, options, `sha256:${sha256Hex(String(i))}`);
    const records = [
      entries("base", 0),
      // Names and versions as long as Debian's long ones (python3's closure averages fewer).
      ...Array.from({ length: 98 }, (_, i) =>
        packageLayerRecord(
          "package",
          [
            {
              name: `libpython3.11-minimal${i}`,
              version: `1:3.11.2-6+deb12u${i}`,
              arch: "amd64",
              architecture: "amd64",
              source: "python3.11",
              sourceVersion: "3.11.2-6",
              priority: "optional",
              sha256: sha256Hex(String(i)),
              size: 1 << 20,
              filename: `pool/main/p/python3.11/libpython3.11-minimal${i}.deb`,
              repository: "http://deb.example.org/debian",
              suite: "bookworm",
              component: "main",
              reason: "dependency",
              requiredBy: [],
            },
          ],
          options,
          "facts",
        ),
      ),
      entries("files", 99),
    ];
    const image = composeImage({
      config: { architecture: "amd64", os: "linux" },
      layers: records.map((r, i) => ({
        layer: {
          descriptor: {
            mediaType: MediaType.ociLayerGzip,
            digest: `sha256:${sha256Hex(`layer ${i}`)}`,
            size: 99_999_999,
            annotations: layerAnnotations(r),
          },
          diffId: `sha256:${sha256Hex(`tar ${i}`)}`,
          open: async () => Readable.from([]),
        },
        history: [],
      })),
      annotations: {
        "org.opencontainers.image.created": "2024-01-01T00:00:00Z",
        [StrataAnnotation.record]: `sha256:${sha256Hex("record")}`,
      },
    });
    assert.equal(image.manifest.layers.length, 100);
    assert.ok(image.manifestBytes.length <= 32 << 10, `${image.manifestBytes.length} bytes`);
  });

  test("a built image's manifest holds no facts, lock entries or build record", () => {
    const text = built.manifestBytes.toString();
    for (const gone of [
      "dev.strata.build",
      "dev.strata.layer.facts",
      "dev.strata.packages.json",
      "dev.strata.layer.options",
    ])
      assert.ok(!text.includes(gone), gone);
  });
});

describe("the record travels with the image", () => {
  let registry: RegistryServer;
  before(async () => {
    registry = await startRegistry();
  });
  after(async () => {
    await registry.close();
  });

  const names = { refName: "latest", archiveName: "strata/record:latest" };
  const artifact: () => Artifact = () => ({ kind: "image", image: built });

  async function rebuildableAt(location: ImageLocation): Promise<void> {
    const [image] = artifactImages(await readLocation(location));
    const rebuildability = await checkRebuildable(image, "test");
    assert.ok(rebuildability.ok, rebuildability.ok ? "" : rebuildability.reason);
  }

  test("into an OCI layout, as an index.json entry whose subject is the image", async () => {
    const location: ImageLocation = { transport: "oci", path: join(dir, "layout") } as ImageLocation;
    await writeLocation(location, artifact(), names);
    await rebuildableAt(location);
    const index = JSON.parse(await readFile(join(dir, "layout", "index.json"), "utf8"));
    const entry = index.manifests.find(
      (d: { artifactType?: string }) => d.artifactType === RECORD_ARTIFACT_TYPE,
    );
    const manifest = JSON.parse(
      await readFile(join(dir, "layout", "blobs", "sha256", entry.digest.slice(7)), "utf8"),
    );
    assert.equal(manifest.subject.digest, imageDescriptor(built).digest);
    assert.equal(manifest.layers[0].digest, built.manifest.annotations?.[StrataAnnotation.record]);
    // And on from there: a layout read back and written again still carries it.
    const again: ImageLocation = { transport: "oci", path: join(dir, "layout-again") } as ImageLocation;
    await writeLocation(again, await withRecords(await readLocation(location)), names);
    await rebuildableAt(again);
  });

  test("into an oci-archive, whose index.json names the image alone (skopeo reads a bare oci-archive:)", async () => {
    const file = join(dir, "image.tar");
    const location = { transport: "oci-archive", path: file } as ImageLocation;
    await writeLocation(location, artifact(), names);
    await rebuildableAt(location);
    const inspected = JSON.parse((await run("skopeo", ["inspect", "--raw", `oci-archive:${file}`])).stdout);
    assert.equal(
      inspected.annotations[StrataAnnotation.record],
      built.manifest.annotations?.[StrataAnnotation.record],
    );
    // Copied on from there by strata, the record is attached again.
    const again: ImageLocation = { transport: "oci", path: join(dir, "from-archive") } as ImageLocation;
    await writeLocation(again, await withRecords(await readLocation(location)), names);
    await rebuildableAt(again);
  });

  test("into a registry repository, the blob pushed beside the image and found by its digest", async () => {
    const location = {
      transport: "docker",
      ref: { registry: registry.host, repository: "record/app", tag: "1" },
      text: `${registry.host}/record/app:1`,
    } as ImageLocation;
    await writeLocation(location, artifact(), { ...names, registry: { knownBlobs: false } });
    await rebuildableAt(location);
  });

  test("a docker-archive keeps no manifest: what is read back is refused as not built by strata", async () => {
    const file = join(dir, "docker.tar");
    await writeDockerArchive(file, built, { repoTags: ["strata/record:latest"] });
    const rebuildability = await checkRebuildable(await readDockerArchive(file), "test");
    assert.deepEqual(rebuildability, { ok: false, reason: "not built by strata" });
  });
});
