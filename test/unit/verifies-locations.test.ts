import assert from "node:assert/strict";
import { cp, mkdtemp, open, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { readInventory } from "../../src/inventory/inventory.js";
import { indexTar, writeDockerArchive } from "../../src/oci/archive.js";
import type { Artifact, Image } from "../../src/oci/image.js";
import { writeLayout } from "../../src/oci/layout.js";
import { StrataAnnotation } from "../../src/record/keys.js";
import { isStrataError } from "../../src/util/errors.js";
import { assertOneLineError, isolatedEnv, type RunResult, runStrata } from "../helpers/cli.js";
import { dpkgStanza, layerOf } from "../helpers/layer-tar.js";
import { recordOf, withRecord } from "../helpers/record.js";
import { syntheticImage, syntheticIndex, syntheticLayer } from "../helpers/synthetic-image.js";
import { flippedMiddle, oneByteLonger, otherLastDigit } from "../helpers/tamper.js";

/** The built CLI, with its cache and fleet index in a temp dir of their own. */
const strata = async (args: string[]): Promise<RunResult> => runStrata(args, { env: await isolatedEnv() });

/**
 * README "What strata verifies": local image locations. Every blob of an OCI layout (the index, a platform
 * manifest, a config, a layer) and every member of a docker-archive named by a digest is checked
 * against that digest and size before it is used: `strata pull` of a tampered home fails in one
 * line and writes nothing.
 */

const hexOf = (digest: string) => digest.slice("sha256:".length);
const tempDir = (label: string) => mkdtemp(join(tmpdir(), `strata-verifies-${label}-`));

let work: string;
let layout: string;
let artifact: Artifact & { kind: "index" };
let image: Image;
let indexDigest: string;

before(async () => {
  work = await tempDir("image locations");
  const images = await Promise.all(
    (["amd64", "arm64"] as const).map(async (architecture) =>
      syntheticImage([await syntheticLayer({ files: 2, fileSize: 4096 })], {
        platform: { architecture, os: "linux" },
      }),
    ),
  );
  artifact = syntheticIndex(images) as Artifact & { kind: "index" };
  image = images[0];
  layout = join(work, "layout");
  indexDigest = (await writeLayout(layout, artifact)).digest;
});

/**
 * Pulls `source` into a fresh output (`transport` oci: or an archive's) and expects it refused with a
 * message matching `message`, nothing written.
 */
async function expectPullRefused(source: string, message: RegExp, transport = "oci"): Promise<void> {
  const out = join(await tempDir("out"), "pulled");
  assertOneLineError(await strata(["pull", source, "-o", `${transport}:${out}`]), message);
  assert.deepEqual(await readdir(join(out, "..")), [], "no output, no temp sibling");
}

describe("an OCI layout whose blob is not what its digest says is refused by strata pull", () => {
  const blobs = () => ({
    index: hexOf(indexDigest),
    manifest: hexOf(artifact.index.index.manifests[1].digest),
    config: hexOf(image.manifest.config.digest),
    layer: hexOf(image.manifest.layers[0].digest),
  });

  for (const kind of ["index", "manifest", "config", "layer"] as const) {
    for (const [how, alter] of [
      ["of the right size and another sha256", kind === "layer" ? flippedMiddle : otherLastDigit],
      ["one byte longer", oneByteLonger],
    ] as const) {
      test(`a tampered ${kind} blob ${how}`, async () => {
        const dir = join(await tempDir("layout"), "copy");
        await cp(layout, dir, { recursive: true });
        const hex = blobs()[kind];
        const path = join(dir, "blobs", "sha256", hex);
        await writeFile(path, alter(await readFile(path)));
        const message = new RegExp(`sha256:${hex}.*(sha256 is [0-9a-f]{64}, expected ${hex}|bytes)`);
        await expectPullRefused(`oci:${dir}`, message);
        // Into a layout a local layer is hardlinked and then hashed; into an archive it is streamed
        // through the verifying reader: both paths must refuse it.
        if (kind === "layer") await expectPullRefused(`oci:${dir}`, message, "oci-archive");
      });
    }
  }
});

describe("a docker-archive member named by a digest that is not its digest is refused by strata pull", () => {
  for (const kind of ["config", "layer"] as const) {
    test(`a tampered ${kind} member of the right size`, async () => {
      const file = join(await tempDir("archive"), "image.tar");
      await writeDockerArchive(file, image, { repoTags: ["example.test/app:1"] });
      const digest = kind === "config" ? image.manifest.config.digest : image.manifest.layers[0].digest;
      const member = (await indexTar(file)).get(`blobs/sha256/${hexOf(digest)}`);
      assert.ok(member, `the archive names its ${kind} by digest`);
      const handle = await open(file, "r+");
      try {
        const bytes = Buffer.alloc(member.size);
        await handle.read(bytes, 0, member.size, member.offset);
        const altered = kind === "config" ? otherLastDigit(bytes) : flippedMiddle(bytes);
        await handle.write(altered, 0, altered.length, member.offset);
      } finally {
        await handle.close();
      }
      await expectPullRefused(
        `docker-archive:${file}`,
        new RegExp(`blobs/sha256/${hexOf(digest)} hashes to sha256:(?!${hexOf(digest)})[0-9a-f]{64}$`),
      );
    });
  }
});

describe("the packages an image's record names are validated before any report or key uses them", () => {
  for (const [field, value] of [
    ["name", "../../etc"],
    ["version", "1.0 evil"],
    ["architecture", "amd64/../x"],
    ["source", "App Source"],
    ["sourceVersion", "1\n2"],
    ["sha256", "../../../victim"],
  ] as const) {
    test(`a record whose package ${field} is ${JSON.stringify(value)} is refused`, async () => {
      const annotations = { [StrataAnnotation.layerKind]: "package", [StrataAnnotation.packages]: "app=1.0" };
      const layer = await layerOf([{ path: "etc/app", body: "x" }], { annotations });
      const fine = syntheticImage([{ ...layer, recorded: [{ name: "app", version: "1.0" }] }]);
      const record = await recordOf(fine);
      const [recorded] = record.layers;
      const packages = [{ ...recorded.packages![0], [field]: value }];
      const crafted = withRecord(fine, { ...record, layers: [{ ...recorded, packages }] });
      await assert.rejects(
        readInventory(crafted, "crafted"),
        (err) =>
          isStrataError(err, "IMAGE_NOT_REBUILDABLE") &&
          new RegExp(`record is malformed at layers\\.0\\.packages\\.0\\.${field}`).test(err.message),
      );
      const read = await readInventory(fine, "fine");
      assert.equal(read.packages[0].name, "app");
    });
  }
});

describe("a layer annotation that contradicts the layer's own dpkg record is refused where the layer is read", () => {
  test("strata scan of a layer annotated app=1.0 whose status.d records app 6.6 fails in one line", async () => {
    const layer = await layerOf(
      [{ path: "var/lib/dpkg/status.d/app", body: dpkgStanza({ name: "app", version: "6.6" }) }],
      { annotations: { [StrataAnnotation.layerKind]: "package", [StrataAnnotation.packages]: "app=1.0" } },
    );
    const dir = join(await tempDir("annotated"), "layout");
    await writeLayout(dir, { kind: "image", image: syntheticImage([layer]) });
    assertOneLineError(
      await strata(["scan", `oci:${dir}`]),
      /layer sha256:[0-9a-f]{64} is annotated with app=1\.0 but its status\.d records app=6\.6$/,
    );
  });
});
