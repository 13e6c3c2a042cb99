import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { runStrata } from "../helpers/cli.js";
import { buildExample, exampleCopy } from "../helpers/examples.js";
import { runImage, startImage, unpackBundle } from "../helpers/runtime.js";

const exec = promisify(execFile);
const amd64Only = (spec: string) => spec.replace(/^archs: .*$/m, "archs: [amd64]");

async function skopeoInspect(
  transport: string,
): Promise<{ Digest: string; Architecture: string; Layers: string[] }> {
  const { stdout } = await exec("skopeo", ["inspect", transport]);
  return JSON.parse(stdout);
}

describe("strata build makes images that run (network: host's mirror; root: umoci and runc)", () => {
  let python: Awaited<ReturnType<typeof buildExample>>;
  let pythonDir: string;
  before(async () => {
    pythonDir = await exampleCopy("python3", amd64Only);
    python = await buildExample(pythonDir);
  });

  it("python3 imports ssl, sqlite3 and json as the nonroot user", async () => {
    const r = await runImage(python.out, "latest", {
      args: [
        "/usr/bin/python3",
        "-c",
        "import os, ssl, sqlite3, json; ssl.create_default_context(); print(json.dumps([os.getuid(), sqlite3.sqlite_version_info[0], ssl.OPENSSL_VERSION_INFO[0]]))",
      ],
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [65532, 3, 3]);
  });

  it("puts one layer per package, each naming its package, between the base and files layers, in a manifest of at most 32 KiB", async () => {
    const lock = JSON.parse(await readFile(join(pythonDir, "strata.lock"), "utf8"));
    const image = python.summary.images[0];
    assert.equal(image.layers.length, lock.packages.length + 2);
    assert.equal(image.layers[0].kind, "base");
    assert.equal(image.layers.at(-1).kind, "files");
    const inLayers = image.layers.flatMap((l: { packages: string[] }) => l.packages).sort();
    const locked = lock.packages
      .map((p: { name: string; version: string }) => `${p.name}=${p.version}`)
      .sort();
    assert.deepEqual(inLayers, locked);
    const manifest = JSON.parse(
      await readFile(join(python.out, "blobs", "sha256", image.digest.slice(7)), "utf8"),
    );
    const libc = manifest.layers.find((l: { annotations: Record<string, string> }) =>
      l.annotations["dev.strata.packages"]?.startsWith("libc6="),
    );
    assert.ok(libc, "the libc6 layer is annotated with its package");
    // The facts and lock entries are in the record the manifest names: the manifest stays small.
    const bytes = await readFile(join(python.out, "blobs", "sha256", image.digest.slice(7)));
    assert.ok(bytes.length <= 32 << 10, `the manifest is ${bytes.length} bytes`);
    assert.match(manifest.annotations["dev.strata.record"], /^sha256:[0-9a-f]{64}$/);
  });

  it("leaves package-manager cruft out and keeps what scanners and runtimes need", async () => {
    const bundle = await unpackBundle(python.out, "latest");
    try {
      const root = join(bundle.dir, "rootfs");
      const exists = (p: string) =>
        readFile(join(root, p)).then(
          () => true,
          () => false,
        );
      assert.ok(await exists("var/lib/dpkg/status.d/python3.11"));
      assert.match(
        await readFile(join(root, "var/lib/dpkg/status.d/libc6"), "utf8"),
        /^Package: libc6\nStatus: install ok installed\n/,
      );
      assert.ok(await exists("var/lib/dpkg/status.d/libc6.md5sums"));
      assert.ok(await exists("etc/ssl/certs/ca-certificates.crt"));
      assert.ok(await exists("usr/share/doc/libc6/copyright"));
      assert.equal(await exists("usr/share/doc/libc6/changelog.Debian.gz"), false);
      assert.equal(await exists("usr/bin/dpkg"), false);
      assert.equal(await exists("usr/bin/apt"), false);
      assert.equal(await exists("var/lib/dpkg/status"), false);
      const { stdout } = await exec("stat", ["-c", "%a %F", join(root, "tmp"), join(root, "bin")]);
      assert.deepEqual(stdout.trim().split("\n"), ["1777 directory", "777 symbolic link"]);
    } finally {
      await bundle.remove();
    }
  });

  it("gives the same manifest digest from a cold cache and with SOURCE_DATE_EPOCH another one", async () => {
    const cold = await mkdtemp(join(tmpdir(), "strata-cold-"));
    try {
      const again = await buildExample(pythonDir, [], cold);
      assert.equal(again.summary.digest, python.summary.digest);
      const warm = await buildExample(pythonDir, [], cold);
      assert.equal(warm.summary.digest, python.summary.digest);
      const other = await runStrata(
        ["--cache-dir", cold, "build", "-o", join(pythonDir, "out-epoch"), "--json"],
        { cwd: pythonDir, env: { SOURCE_DATE_EPOCH: "1700000000" } },
      );
      assert.equal(other.code, 0, other.stderr);
      assert.notEqual(JSON.parse(other.stdout).digest, python.summary.digest);
    } finally {
      await rm(cold, { recursive: true, force: true });
    }
  });

  it("writes oci, oci-archive and docker-archive that skopeo reads", async () => {
    const layout = await skopeoInspect(`oci:${python.out}:latest`);
    assert.equal(layout.Digest, python.summary.digest);
    assert.equal(layout.Architecture, "amd64");
    for (const format of ["oci-archive", "docker-archive"]) {
      const file = join(pythonDir, `image.${format}.tar`);
      const r = await runStrata(
        ["--cache-dir", join(tmpdir(), "strata-test-cache"), "build", "-o", file, "--format", format],
        {
          cwd: pythonDir,
        },
      );
      assert.equal(r.code, 0, r.stderr);
      const info = await skopeoInspect(`${format}:${file}`);
      assert.equal(info.Layers.length, python.summary.images[0].layers.length);
    }
  });

  it("refuses to overwrite an output without --force", async () => {
    const r = await runStrata(
      ["--cache-dir", join(tmpdir(), "strata-test-cache"), "build", "-o", python.out],
      {
        cwd: pythonDir,
      },
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already|not empty/);
    assert.match(r.stderr, /--force/);
  });

  it("busybox runs a shell command", async () => {
    const dir = await exampleCopy("busybox");
    const { out } = await buildExample(dir);
    const r = await runImage(out, "latest", { args: ["/usr/bin/busybox", "sh", "-c", "echo $((6 * 7))"] });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "42");
  });

  it("nginx answers a request on loopback", async () => {
    const dir = await exampleCopy("nginx");
    const { out } = await buildExample(dir);
    const container = await startImage(out, "latest", { hostNetwork: true });
    try {
      let body = "";
      for (let i = 0; i < 50 && body === ""; i++) {
        body = await fetch("http://127.0.0.1:18080/").then(
          (r) => r.text(),
          () => "",
        );
        if (body === "") await sleep(200);
      }
      assert.equal(body, "hello from strata\n", container.output());
    } finally {
      await container.stop();
    }
  });

  it("the static base holds certificates, time zones and os-release but no shell or libc", async () => {
    const dir = await exampleCopy("static");
    const { out, summary } = await buildExample(dir);
    const packages = summary.images[0].layers.flatMap((l: { packages: string[] }) =>
      l.packages.map((p) => p.split("=")[0]),
    );
    assert.deepEqual(packages.sort(), ["base-files", "ca-certificates", "netbase", "tzdata"]);
    const bundle = await unpackBundle(out, "latest");
    try {
      const root = join(bundle.dir, "rootfs");
      assert.match(await readFile(join(root, "etc/os-release"), "utf8"), /ID=debian/);
      assert.ok(
        (await readFile(join(root, "etc/ssl/certs/ca-certificates.crt"), "utf8")).includes(
          "BEGIN CERTIFICATE",
        ),
      );
      assert.ok((await readFile(join(root, "usr/share/zoneinfo/UTC"))).length > 0);
      await assert.rejects(readFile(join(root, "usr/bin/sh")));
    } finally {
      await bundle.remove();
    }
  });
});
