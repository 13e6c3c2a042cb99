import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readInventory } from "../../src/inventory/inventory.js";
import { readLocation } from "../../src/oci/locations/locations.js";
import { runStrata } from "../helpers/cli.js";
import { buildExample, exampleCopy } from "../helpers/examples.js";
import { dpkgInstalled, peerImage } from "../helpers/peer-image.js";
import { podman } from "../helpers/podman.js";

interface DiffJson {
  images: {
    platform: string;
    a: { packagesFrom: string };
    b: { packagesFrom: string };
    packages: {
      added: { name: string; version: string }[];
      removed: { name: string }[];
      changed: { name: string }[];
      same: number;
    };
    layers: { shared: number; onlyInA: number; onlyInB: number };
    pull: { layers: number; bytes: number };
    chainIdsPartAt: number | null;
  }[];
  onlyInA: string[];
  onlyInB: string[];
}

interface BuiltLayer {
  digest: string;
  size: number;
  packages: string[];
}

async function diff(a: string, b: string, ...more: string[]): Promise<DiffJson> {
  const r = await runStrata(["diff", a, b, "--json", ...more]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe("strata diff on real images (root: mmdebstrap, umoci, podman; network: the host's mirror)", () => {
  let work: string;
  const dirs: string[] = [];
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "strata-e2e-diff-"));
  });
  after(async () => {
    for (const dir of [work, ...dirs]) await rm(dir, { recursive: true, force: true });
  });

  it("the python3 example and the same with netbase: one package added, its layer the only one to pull", async () => {
    const plain = await exampleCopy("python3");
    const more = await exampleCopy("python3", (spec) =>
      spec.replace(/^packages:\n/m, "packages:\n  - netbase\n"),
    );
    dirs.push(plain, more);
    const [a, b] = [await buildExample(plain), await buildExample(more)];
    const result = await diff(a.out, `oci:${b.out}:latest`);
    assert.deepEqual(result.images.map((i) => i.platform).sort(), ["linux/amd64", "linux/arm64/v8"]);
    for (const [n, image] of result.images.entries()) {
      assert.deepEqual(
        image.packages.added.map((p) => p.name),
        ["netbase"],
        image.platform,
      );
      assert.deepEqual([image.packages.removed, image.packages.changed], [[], []], image.platform);
      assert.ok(image.packages.same > 30, `${image.packages.same} packages the same`);
      const layersA = new Set<string>(a.summary.images[n].layers.map((l: BuiltLayer) => l.digest));
      const newLayers: BuiltLayer[] = b.summary.images[n].layers.filter(
        (l: BuiltLayer) => !layersA.has(l.digest),
      );
      assert.ok(newLayers.some((l) => l.packages.some((p) => p.startsWith("netbase="))));
      assert.deepEqual(image.pull, {
        layers: newLayers.length,
        bytes: newLayers.reduce((sum, l) => sum + l.size, 0),
      });
      const firstNew = b.summary.images[n].layers.findIndex((l: BuiltLayer) => !layersA.has(l.digest));
      assert.equal(image.chainIdsPartAt, firstNew + 1);
    }
    const one = await diff(a.out, b.out, "--platform", "arm64");
    assert.deepEqual(
      one.images.map((i) => i.platform),
      ["linux/arm64/v8"],
    );
  });

  it("an mmdebstrap + umoci image: its packages are what its dpkg status lists, and strata's python3 is a subset at the same versions", async () => {
    const root = join(work, "rootfs");
    const layout = join(work, "peer");
    await peerImage(root, layout, "python3,ca-certificates,tzdata");

    const strata = await exampleCopy("python3", (spec) => spec.replace(/^archs: .*$/m, "archs: [amd64]"));
    dirs.push(strata);
    const built = await buildExample(strata);
    const result = await diff(built.out, `oci:${layout}:latest`);
    const [image] = result.images;
    assert.equal(image.b.packagesFrom, "layers");
    assert.deepEqual(
      [image.packages.removed, image.packages.changed],
      [[], []],
      "strata's packages are all in mmdebstrap's tree, same versions",
    );
    assert.equal(image.pull.layers, 1, "umoci made one layer, which strata's image lacks");
    assert.equal(image.chainIdsPartAt, 1);

    // The inventory of the peer, as strata reads it, against dpkg-query over the tree it was made from.
    const installed = await dpkgInstalled(root);
    assert.ok(installed.length > 80, `${installed.length} packages installed`);
    const peer = await readLocation({ transport: "oci", path: layout, tag: "latest" });
    assert.ok(peer.kind === "image");
    const inventory = await readInventory(peer.image, layout);
    const read = inventory.packages.map((p) =>
      [p.name, p.version, p.architecture, p.source, p.sourceVersion].join(" "),
    );
    assert.deepEqual(read.sort(), installed);
    assert.equal(image.packages.added.length + image.packages.same, installed.length);
  });

  it("a real podman save (uncompressed docker-archive) of a strata image reads back: same packages, same ChainIDs, new digests", async () => {
    const dir = await exampleCopy("python3", (spec) => spec.replace(/^archs: .*$/m, "archs: [amd64]"));
    dirs.push(dir);
    const { out, summary } = await buildExample(dir);
    const archive = join(work, "strata.tar");
    const pulled = await runStrata(["pull", `oci:${out}:latest`, "-o", `docker-archive:${archive}:app:1`]);
    assert.equal(pulled.code, 0, pulled.stderr);
    const saved = join(work, "podman-save.tar");
    const root = join(work, "podman");
    await podman(root, "load", "-i", archive);
    await podman(root, "save", "--format", "docker-archive", "-o", saved, "localhost/app:1");
    const [image] = (await diff(out, saved)).images;
    assert.equal(image.b.packagesFrom, "layers", "podman keeps no annotations: status.d is read");
    const packages = summary.images[0].layers.flatMap((l: BuiltLayer) => l.packages).length;
    assert.deepEqual(
      [image.packages.added, image.packages.removed, image.packages.changed, image.packages.same],
      [[], [], [], packages],
    );
    assert.equal(image.chainIdsPartAt, null, "the same diff IDs: a node's unpacked snapshots are shared");
    assert.equal(image.layers.shared, 0, "podman saves the layers uncompressed, so their digests differ");
  });
});
