import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { runStrata } from "../helpers/cli.js";
import { buildExample, exampleCopy, SHARED_CACHE } from "../helpers/examples.js";
import { podman } from "../helpers/podman.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";
import { runImage } from "../helpers/runtime.js";

const exec = promisify(execFile);
const amd64Only = (spec: string) => spec.replace(/^archs: .*$/m, "archs: [amd64]");

interface Layer {
  digest: string;
  size: number;
  packages: string[];
}

async function push(source: string, ref: string, ...extra: string[]) {
  const r = await runStrata(["--cache-dir", SHARED_CACHE, "push", source, ref, "--json", ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
}

describe("push and pull against a real registry (network: host's mirror; starts docker-registry on loopback; root: runc, podman)", () => {
  let registry: RegistryServer;
  before(async () => {
    registry = await startRegistry();
  });
  after(() => registry.close());

  it("pushes an image that skopeo inspects and podman pulls and runs", async () => {
    const dir = await exampleCopy("busybox");
    const { summary } = await buildExample(dir, ["--push", `${registry.host}/strata/busybox:1`]);
    const { stdout } = await exec("skopeo", [
      "inspect",
      "--tls-verify=false",
      `docker://${registry.host}/strata/busybox:1`,
    ]);
    assert.equal(JSON.parse(stdout).Digest, summary.digest);

    const root = await mkdtemp(join(tmpdir(), "strata-podman-"));
    try {
      await podman(root, "pull", "--tls-verify=false", `${registry.host}/strata/busybox:1`);
      const run = await podman(
        root,
        "run",
        "--rm",
        "--network",
        "none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        `${registry.host}/strata/busybox:1`,
        "/usr/bin/busybox",
        "echo",
        "hello from podman",
      );
      assert.equal(run.stdout.trim(), "hello from podman");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("a second image sharing packages sends only its own layers", async () => {
    const perl = await buildExample(await exampleCopy("perl"));
    const git = await buildExample(await exampleCopy("git"));
    const first = await push(perl.out, `${registry.host}/strata/perl:1`);
    assert.equal(first.uploaded + first.skipped + first.mounted, perl.summary.images[0].layers.length + 1);
    const perlLayers = new Set(perl.summary.images[0].layers.map((l: Layer) => l.digest));
    const gitLayers: Layer[] = git.summary.images[0].layers;
    const shared = gitLayers.filter((l) => perlLayers.has(l.digest));
    const own = gitLayers.filter((l) => !perlLayers.has(l.digest));
    assert.ok(shared.length >= 10, `git and perl share ${shared.length} package layers`);

    const second = await push(git.out, `${registry.host}/strata/git:1`);
    // Shared layers live in another repository of the same registry: mounted, not sent.
    assert.equal(second.mounted, shared.length);
    assert.equal(second.uploaded, own.length + 1, "own layers plus the config");
    const ownBytes = own.reduce((n, l) => n + l.size, 0);
    const configSize = JSON.parse(
      await readFile(join(git.out, "blobs", "sha256", git.summary.images[0].digest.slice(7)), "utf8"),
    ).config.size;
    assert.equal(second.bytesSent, ownBytes + configSize);

    const again = await push(git.out, `${registry.host}/strata/git:2`);
    assert.equal(again.uploaded, 0);
    assert.equal(again.bytesSent, 0);
  });

  it("pushes and pulls an index for amd64 and arm64 whose arm64 layers hold aarch64 binaries", async () => {
    const dir = await exampleCopy("python3");
    const { summary } = await buildExample(dir, ["--push", `${registry.host}/strata/python3:multi`]);
    assert.equal(summary.mediaType, "application/vnd.oci.image.index.v1+json");
    const { stdout } = await exec("skopeo", [
      "inspect",
      "--raw",
      "--tls-verify=false",
      `docker://${registry.host}/strata/python3:multi`,
    ]);
    const index = JSON.parse(stdout);
    assert.deepEqual(
      index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture).sort(),
      ["amd64", "arm64"],
    );

    const pulled = join(dir, "pulled");
    const r = await runStrata([
      "--cache-dir",
      SHARED_CACHE,
      "pull",
      `${registry.host}/strata/python3:multi`,
      "-o",
      pulled,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const layoutIndex = JSON.parse(await readFile(join(pulled, "index.json"), "utf8"));
    assert.equal(layoutIndex.manifests[0].digest, summary.digest);

    const arm = summary.images.find((i: { arch: string }) => i.arch === "arm64");
    const libc = arm.layers.find((l: Layer) => l.packages.some((p) => p.startsWith("libc6=")));
    const blob = join(pulled, "blobs", "sha256", libc.digest.slice(7));
    const { stdout: elf } = await exec("sh", [
      "-c",
      `tar -xzOf ${blob} usr/lib/aarch64-linux-gnu/libc.so.6 | head -c 20 | od -An -tx1`,
    ]);
    const bytes = elf.trim().split(/\s+/);
    assert.deepEqual(bytes.slice(0, 4), ["7f", "45", "4c", "46"], "an ELF file");
    assert.equal(Number.parseInt(bytes[19] + bytes[18], 16), 183, "e_machine is EM_AARCH64");
  });

  for (const max of [8, 3]) {
    it(`an image over a layer budget of ${max} groups packages and still runs`, async () => {
      const dir = await exampleCopy("python3", (s) => `${amd64Only(s)}\nlayers: { max: ${max} }\n`);
      const { out, summary } = await buildExample(dir);
      const layers: (Layer & { kind: string })[] = summary.images[0].layers;
      assert.equal(layers.length, max);
      const group = layers.find((l) => l.kind === "group");
      assert.ok(group && group.packages.length > 20, "the small leftovers share one layer");
      const r = await runImage(out, "latest", {
        args: ["/usr/bin/python3", "-c", "import ssl, json; print('grouped ok')"],
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "grouped ok");
    });
  }
});

describe("registry authentication (starts docker-registry with htpasswd over TLS)", () => {
  let registry: RegistryServer;
  before(async () => {
    registry = await startRegistry({ htpasswd: { username: "strata", password: "s3cret" } });
  });
  after(() => registry.close());

  it("pushes with the right --creds and refuses wrong ones with a clear error", async () => {
    const { out, summary } = await buildExample(await exampleCopy("busybox"));
    const ok = await push(
      out,
      `${registry.host}/auth/busybox:1`,
      "--creds",
      "strata:s3cret",
      "--ca-file",
      registry.caFile!,
    );
    assert.equal(ok.uploaded, summary.images[0].layers.length + 1); // the layers and the config
    const bad = await runStrata([
      "push",
      out,
      `${registry.host}/auth/busybox:2`,
      "--creds",
      "strata:wrong",
      "--ca-file",
      registry.caFile!,
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /strata: error: .*authentication failed for strata/);
    assert.match(bad.stderr, /hint: .*--creds/);
  });
});
