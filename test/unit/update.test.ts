import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { readLayout, writeLayout } from "../../src/oci/layout.js";
import type { Descriptor } from "../../src/oci/types.js";
import { selfSigned } from "../helpers/certificates.js";
import { runStrata } from "../helpers/cli.js";
import { type CraftedFile, craftDeb, craftedControl, tempDir } from "../helpers/debs.js";
import { type FakePackage, type FakeRepo, fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";
import { startRegistry } from "../helpers/registry.js";
import { freshImage, imageArtifact } from "../helpers/synthetic-image.js";

const execFileAsync = promisify(execFile);

/** A crafted .deb of `name` `version` (Architecture: all) as a fake repository's package. */
async function debPackage(
  name: string,
  version: string,
  files: CraftedFile[],
  fields: Record<string, string> = {},
): Promise<FakePackage> {
  const dir = await tempDir(`deb-${name}-${version}`);
  const deb = await craftDeb(dir, name, files, craftedControl(name, version));
  return { name, version, arch: "all", fields, body: await readFile(deb.path) };
}

const lib = (name: string, version: string) =>
  debPackage(name, version, [{ name: `./usr/lib/${name}.so`, body: `${name} ${version}\n` }]);
const cert = (name: string) => ({ name: `./usr/share/ca-certificates/mozilla/${name}.crt` });

/**
 * `strata update` through the CLI, against two really signed repositories on loopback: the release
 * the image was built from, and one with newer versions (as a security suite adds them).
 */
describe("strata update (two signed repositories on loopback, crafted .debs)", () => {
  let stable: FakeRepo;
  let updates: FakeRepo;
  let dir: string;
  const cacheDir = () => ["--cache-dir", join(dir, "cache")];

  before(async () => {
    const [one, two] = [await selfSigned("/CN=Update One"), await selfSigned("/CN=Update Two")];
    stable = await startFakeRepo({
      packages: [
        await debPackage("app", "1.0", [{ name: "./usr/bin/app", mode: 0o755, body: "#!/bin/sh\n" }], {
          Depends: "libfoo, libold",
        }),
        await lib("libfoo", "1.0"),
        await lib("libold", "1.0"),
        await lib("libssl3", "3.0.20-1~deb12u1"),
        await debPackage("ca-certificates", "1.0", [{ ...cert("One"), body: one }]),
      ],
    });
    updates = await startFakeRepo({
      suite: "testing-security",
      packages: [
        await debPackage("app", "1.1", [{ name: "./usr/bin/app", mode: 0o755, body: "#!/bin/sh\n# 1.1\n" }], {
          Depends: "libfoo, libnew",
        }),
        await lib("libnew", "0.1"),
        await lib("libssl3", "3.0.22-1~deb12u2"),
        await debPackage("ca-certificates", "2.0", [
          { ...cert("One"), body: one },
          { ...cert("Two"), body: two },
        ]),
      ],
    });
    dir = await tempDir("update-cli");
  });
  after(async () => {
    await stable.close();
    await updates.close();
    await rm(dir, { recursive: true, force: true });
  });

  const PACKAGES = ["app", "libssl3", "ca-certificates"];
  const secondRepo = () =>
    [`  - url: ${updates.url}`, "    suites: [testing-security]", `    keyring: ${updates.keyring}`].join(
      "\n",
    );

  /** A spec in its own directory, built into oci:DIR/old; then the spec gains the updates repository. */
  async function builtImage(
    name: string,
    extra = "",
    bothRepos = false,
  ): Promise<{ spec: string; image: string }> {
    await mkdir(join(dir, name));
    const spec = join(dir, name, "strata.yaml");
    const text = fakeRepoSpec(stable, PACKAGES, extra);
    await writeFile(spec, bothRepos ? text.replace("archs:", `${secondRepo()}\narchs:`) : text);
    const image = join(dir, name, "old");
    const built = await runStrata([...cacheDir(), "build", "--lock-update", "-o", image, spec]);
    assert.equal(built.code, 0, built.stderr);
    await writeFile(spec, fakeRepoSpec(stable, PACKAGES, extra).replace("archs:", `${secondRepo()}\narchs:`));
    return { spec, image };
  }

  async function layersOf(layout: string): Promise<Descriptor[]> {
    const artifact = await readLayout(layout);
    assert.equal(artifact.kind, "image");
    return artifact.kind === "image" ? artifact.image.manifest.layers : [];
  }

  /** What `strata build` makes from the (updated) lock beside `spec`. */
  async function freshDigest(spec: string, out: string): Promise<string> {
    const r = await runStrata([...cacheDir(), "build", "-o", out, "--json", spec]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!).digest;
  }

  async function update(args: string[]) {
    const r = await runStrata([...cacheDir(), "update", ...args, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    return { report: JSON.parse(r.stdout.trim().split("\n").at(-1)!), stderr: r.stderr };
  }

  it("updates an image in a registry in place twice, with garbage collection between, the second time from an empty cache", async () => {
    const { spec, image } = await builtImage("gc");
    const registry = await startRegistry();
    try {
      const ref = `${registry.host}/gc/app:1`;
      const pushed = await runStrata([...cacheDir(), "push", image, ref]);
      assert.equal(pushed.code, 0, pushed.stderr);
      // Its own caches: the other tests count what their updates download.
      const first = await runStrata([
        ...["--cache-dir", join(dir, "gc", "cache")],
        ...["update", `docker://${ref}`, "--spec", spec, "--package", "libssl3", "--json"],
      ]);
      assert.equal(first.code, 0, first.stderr);
      // As the docs say, with the registry stopped; --delete-untagged also drops the old image and
      // every manifest pushed by digest only: the record's artifact is kept by its own tag.
      await registry.stop();
      await execFileAsync("docker-registry", ["garbage-collect", "--delete-untagged", registry.configFile]);
      await registry.start();
      const emptyCache = ["--cache-dir", join(dir, "gc", "empty-cache")];
      const again = await runStrata([
        ...emptyCache,
        ...["update", `docker://${ref}`, "--spec", spec, "--package", "ca-certificates", "--json"],
      ]);
      assert.equal(again.code, 0, again.stderr);
      const report = JSON.parse(again.stdout.trim().split("\n").at(-1)!);
      assert.deepEqual(
        report.changes.map((c: { name: string; to: string }) => `${c.name}=${c.to}`),
        ["ca-certificates=2.0"],
      );
    } finally {
      await registry.close();
    }
  });

  it("swaps one package's layer in place: every other layer keeps digest and position, and the image is a fresh build's", async () => {
    const { spec, image } = await builtImage("one");
    const before = await layersOf(image);
    const out = join(dir, "one", "new");
    const { report, stderr } = await update([image, "--spec", spec, "--package", "libssl3", "-o", out]);
    assert.deepEqual(report.changes, [
      { arch: "amd64", name: "libssl3", from: "3.0.20-1~deb12u1", to: "3.0.22-1~deb12u2" },
    ]);
    const after = await layersOf(out);
    const at = before.findIndex((l) => l.annotations?.["dev.strata.packages"] === "libssl3=3.0.20-1~deb12u1");
    assert.equal(after.length, before.length);
    for (const [i, l] of after.entries()) {
      if (i === at) assert.notEqual(l.digest, before[i].digest);
      else assert.equal(l.digest, before[i].digest, `layer ${i + 1} kept`);
    }
    assert.match(
      stderr,
      new RegExp(`libssl3 3\\.0\\.20-1~deb12u1 → 3\\.0\\.22-1~deb12u2 \\(layer ${at + 1}, `),
    );
    assert.deepEqual(
      report.newLayers.map((l: { position: number }) => l.position),
      [at + 1],
    );
    assert.deepEqual(report.downloaded, ["libssl3=3.0.22-1~deb12u2"]);
    assert.match(await readFile(join(dir, "one", "strata.lock"), "utf8"), /"version": "3\.0\.22-1~deb12u2"/);
    assert.equal(await freshDigest(spec, join(dir, "one", "fresh")), report.digest);
  });

  it("with an empty cache, downloads only the changed package's .deb and takes every other layer from the image", async () => {
    const { spec, image } = await builtImage("empty-cache");
    const empty = ["--cache-dir", join(dir, "empty-cache", "cache")];
    const r = await runStrata([
      ...empty,
      "update",
      image,
      "--spec",
      spec,
      "--package",
      "libssl3",
      "-o",
      join(dir, "empty-cache", "new"),
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.deepEqual(report.downloaded, ["libssl3=3.0.22-1~deb12u2"]);
    assert.equal(await freshDigest(spec, join(dir, "empty-cache", "fresh")), report.digest);
  });

  it("gives a new dependency its layer and takes the layer of one no longer needed", async () => {
    const { spec, image } = await builtImage("deps");
    const before = await layersOf(image);
    const { report } = await update([
      image,
      "--spec",
      spec,
      "--package",
      "app",
      "-o",
      join(dir, "deps", "new"),
    ]);
    assert.deepEqual(
      report.changes.map((c: { name: string; from: string; to: string }) => `${c.name} ${c.from} ${c.to}`),
      ["app 1.0 1.1", "libnew null 0.1", "libold 1.0 null"],
    );
    const after = await layersOf(join(dir, "deps", "new"));
    const kept = (ls: Descriptor[]) =>
      ls
        .filter((l) => !/^(app|libnew|libold)=/.test(l.annotations?.["dev.strata.packages"] ?? ""))
        .map((l) => l.digest);
    assert.deepEqual(kept(after), kept(before));
    assert.equal(await freshDigest(spec, join(dir, "deps", "fresh")), report.digest);
  });

  it("replaces the group layer that holds an updated package, and only it, under a small layer budget", async () => {
    const { spec, image } = await builtImage("group", "layers: { max: 4 }");
    const before = await layersOf(image);
    assert.equal(before.length, 4);
    const { report } = await update([
      image,
      "--spec",
      spec,
      "--package",
      "libssl3",
      "-o",
      join(dir, "group", "new"),
    ]);
    const after = await layersOf(join(dir, "group", "new"));
    const group = before.findIndex((l) => l.annotations?.["dev.strata.layer.kind"] === "group");
    assert.match(before[group].annotations?.["dev.strata.packages"] ?? "", /libssl3=3\.0\.20/);
    assert.deepEqual(
      after.map((l, i) => l.digest === before[i].digest),
      before.map((_, i) => i !== group),
    );
    assert.equal(report.newLayers[0].position, group + 1);
    assert.equal(await freshDigest(spec, join(dir, "group", "fresh")), report.digest);
  });

  it("makes the files layer again when ca-certificates changes what it is made from", async () => {
    const { spec, image } = await builtImage("certs");
    const before = await layersOf(image);
    const { report, stderr } = await update([
      image,
      "--spec",
      spec,
      "--package",
      "ca-certificates",
      "-o",
      join(dir, "certs", "new"),
    ]);
    const after = await layersOf(join(dir, "certs", "new"));
    const changed = after.flatMap((l, i) =>
      l.digest === before[i].digest ? [] : [l.annotations?.["dev.strata.layer.kind"]],
    );
    assert.deepEqual(changed, ["package", "files"]);
    assert.match(stderr, new RegExp(`files layer ${after.length} made again`));
    assert.equal(await freshDigest(spec, join(dir, "certs", "fresh")), report.digest);
  });

  it("refuses what it cannot do with one line that says why", async () => {
    const { spec, image } = await builtImage("refusals");
    const refused = async (args: string[], message: RegExp) => {
      const r = await runStrata([...cacheDir(), "update", ...args]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    };
    await refused(
      [image, "--spec", spec, "--package", "libssl3"],
      /is local: updating it in place replaces it.*\n.*--force/,
    );
    await refused(
      [image, "--spec", spec, "--package", "nosuch", "-o", join(dir, "x")],
      /nosuch is not a package of the image/,
    );
    await refused(
      [image, "--spec", spec, "--package", "libssl3=9.9", "-o", join(dir, "x")],
      /libssl3=9\.9 is not offered for amd64/,
    );
    await refused([image, "--spec", spec, "--all", "--package", "app"], /--all and --package contradict/);
    const other = await builtImage("other", "epoch: 5");
    await refused(
      [other.image, "--spec", spec, "--all", "-o", join(dir, "x")],
      /cannot update: amd64: .*(not built from this lock|would change although)/,
    );
  });

  it("without --spec, resolves against the repositories the image records and builds what its spec would", async () => {
    const { spec, image } = await builtImage("record", "", true);
    const args = ["--package", "libssl3=3.0.20-1~deb12u1"];
    const bare = await update([image, ...args, "-o", join(dir, "record", "bare")]);
    assert.deepEqual(bare.report.changes, [
      { arch: "amd64", name: "libssl3", from: "3.0.22-1~deb12u2", to: "3.0.20-1~deb12u1" },
    ]);
    const lock = await readFile(join(dir, "record", "strata.lock"), "utf8");
    assert.match(lock, /3\.0\.22-1~deb12u2/, "no spec named, no lock written");
    const withSpec = await update([image, ...args, "--spec", spec, "-o", join(dir, "record", "spec")]);
    assert.equal(bare.report.digest, withSpec.report.digest);
  });

  it("refuses an image strata did not build, saying so", async () => {
    const layout = join(dir, "foreign");
    await writeLayout(layout, imageArtifact((await freshImage(2)).image));
    const r = await runStrata([...cacheDir(), "update", `oci:${layout}`, "--all", "-o", join(dir, "y")]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^strata: error: oci:.*foreign: not built by strata\n/);
  });

  it("updates a local image in place with --force, and then says there is nothing to update", async () => {
    const { spec, image } = await builtImage("inplace");
    await update([image, "--spec", spec, "--all", "--force"]);
    const r = await runStrata([...cacheDir(), "update", image, "--spec", spec, "--all", "--force"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /nothing to update/);
  });
});
