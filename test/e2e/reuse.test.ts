import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runStrata } from "../helpers/cli.js";
import { type FakeRepo, fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";
import { modelPackages } from "../helpers/model-repo.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";

/**
 * Builds on fresh machines reuse what a registry (or any image location) already has: the compiled CLI, a
 * really-signed loopback repository whose requests are counted, and Debian's docker-registry.
 */

let registry: RegistryServer;
let work: string;
let v1: FakeRepo;
let v2: FakeRepo;

before(async () => {
  registry = await startRegistry();
  work = await mkdtemp(join(tmpdir(), "strata-reuse-e2e-"));
  v1 = await startFakeRepo({ packages: await modelPackages("1.0") });
  v2 = await startFakeRepo({ packages: await modelPackages("1.1") });
});
after(async () => {
  await Promise.all([registry?.close(), v1?.close(), v2?.close()]);
  await rm(work, { recursive: true, force: true });
});

let runs = 0;

/** `strata build` of `repo`'s tools on a cache of its own (empty unless named), with --json. */
async function build(repo: FakeRepo, args: string[], cache = `cache-${++runs}`) {
  const dir = await mkdtemp(join(work, "spec-"));
  await writeFile(join(dir, "strata.yaml"), fakeRepoSpec(repo, ["tools"], "exclude: [base-files]"));
  const r = await runStrata(["--cache-dir", join(work, cache), "build", "--lock-update", "--json", ...args], {
    cwd: dir,
    // Mount hints live in the user cache: one per test run, not the machine's.
    env: { XDG_CACHE_HOME: join(work, "xdg") },
  });
  assert.equal(r.code, 0, r.stderr);
  const build = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  return { build, push: build.push };
}

function debsServed(repo: FakeRepo): string[] {
  return [...repo.hits]
    .filter(([p]) => p.endsWith(".deb"))
    .flatMap(([p, n]) => Array(n).fill(p.split("/").at(-1)));
}

describe("reusing the layers a registry already has (starts docker-registry on loopback)", () => {
  test("build --push on an empty cache after a one-package change downloads exactly one .deb and uploads only the new layer and config", async () => {
    const ref = `${registry.host}/reuse/app:1`;
    const first = await build(v1, ["--push", ref]);
    assert.equal(first.build.work.debsDownloaded, 3);

    const second = await build(v2, ["--push", ref]);
    assert.deepEqual(debsServed(v2), ["libfoo_1.1_all.deb"]);
    assert.equal(second.build.work.layersReused, 2);
    const layers = second.build.images[0].layers as { digest: string; size: number; packages: string[] }[];
    const libfoo = layers.find((l) => l.packages.includes("libfoo=1.1"))!;
    assert.equal(second.push.uploaded, 2, "the libfoo layer and the config");
    assert.ok(second.push.bytesSent < libfoo.size + 4096, `${second.push.bytesSent} bytes sent`);

    // The same digest as a build from the same lock that reuses nothing.
    const local = await build(v2, ["-o", `oci:${join(work, "local-v2")}`]);
    assert.equal(second.build.digest, local.build.digest);
  });

  test("--cache-from an unchanged image on an empty cache downloads no .deb, gives a local build's digest, and mounts its blobs into another repository", async () => {
    const layout = join(work, "cache-from-layout");
    const local = await build(v1, ["-o", `oci:${layout}`]);
    const served = debsServed(v1).length;

    const fromLayout = await build(v1, ["-o", `oci:${join(work, "again")}`, "--cache-from", `oci:${layout}`]);
    assert.equal(debsServed(v1).length, served, "no .deb downloaded");
    assert.equal(fromLayout.build.digest, local.build.digest);
    assert.equal(fromLayout.build.work.layersReused, 3);

    const source = `${registry.host}/reuse/source:1`;
    await build(v1, ["--push", source]);
    const served2 = debsServed(v1).length;
    const mounted = await build(v1, ["--push", `${registry.host}/reuse/other:1`, "--cache-from", source]);
    assert.equal(debsServed(v1).length, served2, "no .deb downloaded");
    assert.equal(mounted.build.digest, local.build.digest);
    assert.equal(mounted.push.uploaded, 0);
    assert.equal(mounted.push.mounted, 6, "config and five layers mounted from reuse/source");
  });

  test("build --sbom attaches SPDX and CycloneDX SBOMs in the layout it writes and in the registry it pushes to; strata sbom returns them", async () => {
    const layout = join(work, "sbom-layout");
    const ref = `${registry.host}/reuse/sbom:1`;
    const built = await build(v1, ["-o", `oci:${layout}`, "--push", ref]);
    const sboms = built.build.sboms as { format: string; via: string; subject: string }[];
    assert.deepEqual(
      sboms.map((s) => [s.format, s.via]),
      [
        ["spdx", "layout"],
        ["cyclonedx", "layout"],
        ["spdx", "tag-fallback"],
        ["cyclonedx", "tag-fallback"],
      ],
    );
    assert.ok(sboms.every((s) => s.subject === built.build.digest));
    for (const image of [`oci:${layout}:latest`, `docker://${ref}`]) {
      const read = await runStrata(["sbom", image, "--format", "cyclonedx", "--insecure"], {
        env: { XDG_CACHE_HOME: join(work, "xdg") },
      });
      assert.equal(read.code, 0, read.stderr);
      assert.match(read.stderr, /the cyclonedx SBOM attached to/);
      const names = JSON.parse(read.stdout).components.map((c: { name: string }) => c.name);
      assert.deepEqual(names.sort(), ["libbar", "libfoo", "tools"]);
    }
  });
});
