import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { selectEntry, writeLayout } from "../../src/oci/layout.js";
import { Annotation, type Descriptor, MediaType } from "../../src/oci/types.js";
import { runStrata } from "../helpers/cli.js";
import { strataImage } from "../helpers/fleet-images.js";
import { startRegistry } from "../helpers/registry.js";

const exec = promisify(execFile);

const entry = (refName: string, hex: string): Descriptor => ({
  mediaType: MediaType.ociIndex,
  digest: `sha256:${hex.repeat(64)}`,
  size: 1,
  annotations: { [Annotation.refName]: refName },
});

test("an archive entry named NAME:TAG is found by its TAG alone, and an exact name still wins", () => {
  const entries = [entry("strata/image:v3", "a"), entry("v4", "b")];
  assert.equal(selectEntry(entries, "v3", "x").digest, entries[0].digest);
  assert.equal(selectEntry(entries, "strata/image:v3", "x").digest, entries[0].digest);
  assert.equal(selectEntry(entries, "v4", "x").digest, entries[1].digest);
  assert.throws(() => selectEntry([entry("a:v1", "a"), entry("b:v1", "b")], "v1", "x"), /has no entry "v1"/);
});

test("build refuses a --tag that contradicts the tag in the output's name, before any work", async () => {
  for (const [output, tag] of [
    ["oci:/tmp/strata-never-written:v1", "v2"],
    ["docker-archive:/tmp/strata-never-written.tar:app:1", "app:2"],
  ]) {
    const r = await runStrata(["build", "-o", output, "--tag", tag, "/nonexistent/strata.yaml"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^strata: error: --tag ${tag} contradicts`, "m"));
  }
});

test("pull of a bare name that is a local file says to name its transport instead of asking a registry", async () => {
  const dir = await mkdtemp(join(tmpdir(), "strata-bare-"));
  await writeFile(join(dir, "py.oar"), "");
  const r = await runStrata(["pull", "py.oar", "-o", join(dir, "out")], { cwd: dir });
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^strata: error: py\.oar is a local file or directory/m);
  assert.match(r.stderr, /oci-archive:py\.oar/);
});

test("a worker count or a mirror that cannot work is a usage error before any work", async () => {
  for (const args of [
    ["fetch", "-j", "0", "/nonexistent/strata.yaml"],
    ["push", "-j", "abc", "oci:/nonexistent", "127.0.0.1:5000/x:1"],
    ["--mirror", "notaurl", "lock", "/nonexistent/strata.yaml"],
  ]) {
    const r = await runStrata(args);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /(whole number from 1 to 64|http:\/\/ or https:\/\/ URL)/);
  }
});

test("pull names the layout's image latest (what umoci and skopeo expect), --tag names another, and a contradiction is refused", async () => {
  const dir = await mkdtemp(join(tmpdir(), "strata-pull-tag-"));
  const registry = await startRegistry();
  try {
    const app = await strataImage([{ name: "libc6", version: "2.36-9+deb12u4", source: "glibc" }]);
    await writeLayout(join(dir, "src"), { kind: "image", image: app.image }, { tag: "latest" });
    const ref = `${registry.host}/team/app:2`;
    assert.equal((await runStrata(["push", `oci:${join(dir, "src")}`, ref])).code, 0);
    const pulled = await runStrata(["pull", ref, "-o", join(dir, "app")]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.match(pulled.stderr, /pulled .*team\/app:2 \(sha256:[0-9a-f]{64}\) into .*app as latest$/m);
    const umociTags = async (layout: string) =>
      (await exec("umoci", ["ls", "--layout", layout])).stdout.trim().split("\n");
    assert.deepEqual(await umociTags(join(dir, "app")), ["latest"]);
    const tagged = await runStrata(["pull", ref, "-o", join(dir, "tagged"), "--tag", "2"]);
    assert.equal(tagged.code, 0, tagged.stderr);
    assert.deepEqual(await umociTags(join(dir, "tagged")), ["2"]);
    const named = await runStrata(["pull", ref, "-o", `oci:${join(dir, "named")}:v1`]);
    assert.equal(named.code, 0, named.stderr);
    assert.deepEqual(await umociTags(join(dir, "named")), ["v1"]);
    const wrong = await runStrata(["pull", ref, "-o", `oci:${join(dir, "wrong")}:v1`, "--tag", "v2"]);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /^strata: error: --tag v2 contradicts "v1"/m);
  } finally {
    await registry.close();
  }
});
