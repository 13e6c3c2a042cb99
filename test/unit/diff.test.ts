import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { chainIds, diffArtifacts, diffImages } from "../../src/inventory/image-diff.js";
import { writeLocation } from "../../src/oci/locations/locations.js";
import { parseLocationName } from "../../src/oci/locations/name.js";
import { StrataAnnotation } from "../../src/record/keys.js";
import { sha256Hex } from "../../src/util/hash.js";
import { runStrata } from "../helpers/cli.js";
import { dpkgStanza, layerOf } from "../helpers/layer-tar.js";
import { startRegistry } from "../helpers/registry.js";
import {
  imageArtifact,
  type SyntheticLayer,
  syntheticImage,
  syntheticIndex,
} from "../helpers/synthetic-image.js";

const run = promisify(execFile);

/** A strata-like package layer: its status.d record, annotated with its kind and `name=version`. */
function packageLayer(name: string, version: string, source?: string): Promise<SyntheticLayer> {
  return layerOf([{ path: `var/lib/dpkg/status.d/${name}`, body: dpkgStanza({ name, version, source }) }], {
    annotations: {
      [StrataAnnotation.layerKind]: "package",
      [StrataAnnotation.packages]: `${name}=${version}`,
    },
  });
}

function otherLayer(kind: "base" | "files", body: string): Promise<SyntheticLayer> {
  return layerOf([{ path: `etc/${kind}`, body }], { annotations: { [StrataAnnotation.layerKind]: kind } });
}

/** Two images of the same foundations: B keeps base and libc6, moves zlib1g on, drops foo, adds bar. */
async function twoImages(arch = "amd64", variant?: string) {
  const platform = { architecture: arch, os: "linux", ...(variant ? { variant } : {}) };
  const base = await otherLayer("base", `base ${arch}`);
  const libc = await packageLayer("libc6", "2.36-9", "glibc");
  const a = [
    base,
    libc,
    await packageLayer("zlib1g", "1:1.2.13-1", "zlib"),
    await packageLayer("foo", "1.0-1"),
    await otherLayer("files", "a"),
  ];
  const b = [
    base,
    libc,
    await packageLayer("zlib1g", "1:1.3-1", "zlib"),
    await packageLayer("bar", "2.0-1"),
    await otherLayer("files", "b"),
  ];
  return { a, b, imageA: syntheticImage(a, { platform }), imageB: syntheticImage(b, { platform }) };
}

describe("strata diff", () => {
  test("ChainIDs chain each diff ID onto the one below, as the image spec defines them", () => {
    const [d1, d2] = [`sha256:${"1".repeat(64)}`, `sha256:${"2".repeat(64)}`];
    assert.deepEqual(chainIds([d1, d2]), [d1, `sha256:${sha256Hex(`${d1} ${d2}`)}`]);
  });

  test("two images: packages added, removed and changed with source versions, layers shared, bytes to pull, where ChainIDs part", async () => {
    const { b, imageA, imageB } = await twoImages();
    const diff = await diffImages(imageA, imageB, { a: "A", b: "B" });
    assert.deepEqual(diff.packages.added, [
      { name: "bar", architecture: "amd64", version: "2.0-1", source: "bar", sourceVersion: "2.0-1" },
    ]);
    assert.deepEqual(diff.packages.removed, [
      { name: "foo", architecture: "amd64", version: "1.0-1", source: "foo", sourceVersion: "1.0-1" },
    ]);
    assert.deepEqual(diff.packages.changed, [
      {
        name: "zlib1g",
        architecture: "amd64",
        a: { version: "1:1.2.13-1", source: "zlib", sourceVersion: "1:1.2.13-1" },
        b: { version: "1:1.3-1", source: "zlib", sourceVersion: "1:1.3-1" },
      },
    ]);
    assert.equal(diff.packages.same, 1);
    assert.deepEqual(diff.layers, { shared: 2, onlyInA: 3, onlyInB: 3 });
    const newBytes = b.slice(2).reduce((n, l) => n + l.descriptor.size, 0);
    assert.deepEqual(diff.pull, { layers: 3, bytes: newBytes });
    assert.equal(diff.chainIdsPartAt, 3);
    assert.deepEqual([diff.a.packagesFrom, diff.b.packagesFrom], ["annotations", "annotations"]);
  });

  test("an image diffed with itself has no changes, shares every layer, pulls nothing and its ChainIDs never part", async () => {
    const { imageA } = await twoImages();
    const diff = await diffImages(imageA, imageA, { a: "A", b: "A" });
    assert.deepEqual(
      [diff.packages.added, diff.packages.removed, diff.packages.changed, diff.pull, diff.chainIdsPartAt],
      [[], [], [], { layers: 0, bytes: 0 }, null],
    );
  });

  test("multi-platform images are diffed per platform both have; the rest are listed; --platform picks one", async () => {
    const amd = await twoImages("amd64");
    const arm = await twoImages("arm64");
    const riscv = await twoImages("riscv64");
    const indexA = syntheticIndex([amd.imageA, arm.imageA]);
    const indexB = syntheticIndex([amd.imageB, arm.imageB, riscv.imageB]);
    const all = await diffArtifacts(indexA, indexB, { a: "A", b: "B" });
    assert.deepEqual(
      all.images.map((d) => [d.platform, d.packages.changed.length]),
      [
        ["linux/amd64", 1],
        ["linux/arm64", 1],
      ],
    );
    assert.deepEqual([all.onlyInA, all.onlyInB], [[], ["linux/riscv64"]]);
    const v8 = await twoImages("arm64", "v8");
    const variants = await diffArtifacts(indexA, syntheticIndex([v8.imageB]), { a: "A", b: "B" });
    assert.deepEqual(
      [variants.images.map((d) => d.platform), variants.onlyInA],
      [["linux/arm64/v8"], ["linux/amd64"]],
      "an arm64 image without a variant is v8 (OCI's default), so the two pair",
    );
    const one = await diffArtifacts(indexA, indexB, { a: "A", b: "B" }, "arm64");
    assert.deepEqual(
      one.images.map((d) => d.platform),
      ["linux/arm64"],
    );
    await assert.rejects(
      diffArtifacts(indexA, indexB, { a: "A", b: "B" }, "s390x"),
      /no image for --platform s390x/,
    );
  });
});

describe("strata diff, push and pull on the command line take any image location", () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "strata-diff-cli-"));
    await run("npm", ["run", "build"], { cwd: join(import.meta.dirname, "../..") });
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test("diff oci:A docker-archive:B prints the report, and --json the same facts", async () => {
    const { imageA, imageB } = await twoImages();
    const [a, b] = [`oci:${join(work, "a")}:v1`, `docker-archive:${join(work, "b.tar")}:app:v2`];
    await writeLocation(parseLocationName(a)!, imageArtifact(imageA), { refName: "x", archiveName: "x:y" });
    await writeLocation(parseLocationName(b)!, imageArtifact(imageB), { refName: "x", archiveName: "x:y" });
    const human = await runStrata(["diff", a, b]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /packages: 1 added, 1 removed, 1 changed, 1 the same/);
    assert.match(
      human.stdout,
      /~ zlib1g:amd64 1:1\.2\.13-1 \(source zlib 1:1\.2\.13-1\) -> 1:1\.3-1 \(source zlib 1:1\.3-1\)/,
    );
    assert.match(human.stdout, /layers: 2 shared, 3 only in A, 3 only in B/);
    assert.match(human.stdout, /ChainIDs part at layer 3 \(of 5 in A, 5 in B\)/);
    const json = await runStrata(["diff", a, b, "--json"]);
    const parsed = JSON.parse(json.stdout);
    assert.equal(
      parsed.images[0].b.packagesFrom,
      "layers",
      "a docker-archive loses the annotations: status.d is read",
    );
    assert.equal(parsed.images[0].pull.layers, 3);
  });

  test("push docker-archive:FILE to a registry, pull it into oci-archive:FILE:TAG, push that to oci:DIR:TAG, and diff says nothing changed", async () => {
    const registry = await startRegistry();
    try {
      const { imageA } = await twoImages();
      const source = `docker-archive:${join(work, "src.tar")}`;
      await writeLocation(parseLocationName(source)!, imageArtifact(imageA), {
        refName: "x",
        archiveName: "app:1",
      });
      const pushed = await runStrata(["push", source, `docker://${registry.host}/team/app:1`]);
      assert.equal(pushed.code, 0, pushed.stderr);
      assert.match(pushed.stderr, /6 blobs uploaded/);
      const copy = `oci-archive:${join(work, "copy.tar")}:mine`;
      const pulled = await runStrata(["pull", `${registry.host}/team/app:1`, "-o", copy]);
      assert.equal(pulled.code, 0, pulled.stderr);
      const diff = JSON.parse((await runStrata(["diff", source, copy, "--json"])).stdout);
      assert.deepEqual(
        [diff.images[0].pull, diff.images[0].chainIdsPartAt, diff.images[0].packages.same],
        [{ layers: 0, bytes: 0 }, null, 3],
      );
      const local = `oci:${join(work, "local")}:v1`;
      const copied = await runStrata(["push", copy, local]);
      assert.equal(copied.code, 0, copied.stderr);
      assert.match(copied.stderr, /wrote oci:.*local:v1/);
      const same = JSON.parse((await runStrata(["diff", local, copy, "--json"])).stdout);
      assert.equal(same.images[0].layers.onlyInB, 0);
      const again = await runStrata(["pull", local, "-o", `docker://${registry.host}/team/copy:2`]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(
        again.stderr,
        /team\/copy:2@sha256:[a-f0-9]{64}: 0 blobs uploaded \(0 B\), 0 already there, 6 mounted/,
      );
      const remote = JSON.parse(
        (
          await runStrata([
            "diff",
            `${registry.host}/team/app:1`,
            `docker://${registry.host}/team/copy:2`,
            "--json",
          ])
        ).stdout,
      );
      assert.deepEqual([remote.images[0].pull.layers, remote.images[0].packages.same], [0, 3]);
      const wrong = await runStrata(["pull", `${registry.host}/team/app:1`, "-o", copy, "--format", "oci"]);
      assert.equal(wrong.code, 2);
      assert.match(wrong.stderr, /--format oci contradicts the oci-archive: in the name/);
    } finally {
      await registry.close();
    }
  });
});
