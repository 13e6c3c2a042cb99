import assert from "node:assert/strict";
import { appendFile, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { LayerStore, type StoreEvent } from "../../src/run/layer-store.js";
import { isStrataError } from "../../src/util/errors.js";
import { layerOf, type TestEntry } from "../helpers/layer-tar.js";
import { syntheticImage } from "../helpers/synthetic-image.js";

/** The layer store of `strata run`: what it unpacks, what it refuses, and how it notices tampering. */

const dirs: string[] = [];
async function store(events: StoreEvent[] = []) {
  const dir = await mkdtemp(join(tmpdir(), "strata-run-store-"));
  dirs.push(dir);
  return { dir, store: new LayerStore(join(dir, "layers"), (e) => events.push(e)) };
}

async function refused(entries: TestEntry[], why: RegExp) {
  const { dir, store: s } = await store();
  await assert.rejects(
    s.layersOf(syntheticImage([await layerOf(entries)]), "test"),
    (err) => isStrataError(err, "UNSAFE_PATH") && why.test(err.message),
  );
  assert.deepEqual(await readdir(join(dir, "layers")), [], "nothing of the refused layer is left");
}

describe("strata run's layer store", { timeout: 60_000 }, () => {
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it("unpacks a layer once per diff_id: files, directories, symlinks and hardlinks, as the tar says", async () => {
    const { store: s } = await store();
    const layer = await layerOf([
      { path: "etc/" },
      { path: "etc/app.conf", body: "key = value\n" },
      { path: "etc/link", type: "symlink", linkname: "/etc/app.conf" },
      { path: "etc/hard", type: "link", linkname: "etc/app.conf" },
    ]);
    const image = syntheticImage([layer]);
    const [first] = await s.layersOf(image, "test");
    assert.equal(first.unpacked, true);
    assert.equal(await readFile(join(first.root, "etc/hard"), "utf8"), "key = value\n");
    assert.equal(await readlink(join(first.root, "etc/link")), "/etc/app.conf");
    const [second] = await s.layersOf(
      syntheticImage([layer], { label: "another image, same layer" }),
      "test",
    );
    assert.deepEqual([second.unpacked, second.root], [false, first.root]);
  });

  it("refuses absolute names, .., writing through a symlink of the layer, and hardlinks that leave it", async () => {
    await refused([{ path: "/etc/passwd", body: "x" }], /is an absolute path/);
    await refused([{ path: "usr/../../etc/passwd", body: "x" }], /climbs out with \.\./);
    await refused(
      [
        { path: "etc", type: "symlink", linkname: "/etc" },
        { path: "etc/cron.d/evil", body: "x" },
      ],
      /goes through a symlink/,
    );
    await refused([{ path: "shadow", type: "link", linkname: "../../etc/shadow" }], /climbs out/);
  });

  it("refuses a layer whose uncompressed bytes are not its diff_id, and leaves no partial directory", async () => {
    const { dir, store: s } = await store();
    const layer = await layerOf([{ path: "a", body: "a" }], { diffId: `sha256:${"0".repeat(64)}` });
    await assert.rejects(s.layersOf(syntheticImage([layer]), "test"), (err) =>
      isStrataError(err, "HASH_MISMATCH"),
    );
    assert.deepEqual(await readdir(join(dir, "layers")), []);
  });

  it("notices a tampered layer (a file changed, one added) and unpacks it afresh", async () => {
    const events: StoreEvent[] = [];
    const { store: s } = await store(events);
    const image = syntheticImage([await layerOf([{ path: "bin/tool", body: "good\n" }])]);
    const [layer] = await s.layersOf(image, "test");
    await appendFile(join(layer.root, "bin/tool"), "evil\n");
    const [again] = await s.layersOf(image, "test");
    assert.equal(again.unpacked, true);
    assert.equal(await readFile(join(again.root, "bin/tool"), "utf8"), "good\n");
    assert.deepEqual(
      events.map((e) => e.kind),
      ["tampered"],
    );
    await appendFile(join(again.root, "bin/new"), "planted\n");
    assert.equal((await s.layersOf(image, "test"))[0].unpacked, true);
    assert.equal(events.length, 2);
  });

  it("a seal of another strata's format is unpacked again quietly; an edited seal is tampering", async () => {
    const events: StoreEvent[] = [];
    const { store: s } = await store(events);
    const image = syntheticImage([await layerOf([{ path: "bin/tool", body: "good\n" }])]);
    const [layer] = await s.layersOf(image, "test");
    const sealFile = join(layer.root, "..", "seal.json");
    const seal = JSON.parse(await readFile(sealFile, "utf8"));
    await writeFile(sealFile, JSON.stringify({ ...seal, format: 99 }));
    assert.equal((await s.layersOf(image, "test"))[0].unpacked, true);
    assert.equal(events.length, 0);
    await writeFile(sealFile, JSON.stringify({ ...seal, seal: `sha256:${"0".repeat(64)}` }));
    assert.equal((await s.layersOf(image, "test"))[0].unpacked, true);
    assert.deepEqual(
      events.map((e) => e.kind),
      ["tampered"],
    );
  });
});
