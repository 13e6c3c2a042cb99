import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { descriptorOf, imageDescriptor } from "../../src/oci/image.js";
import { writeLayout } from "../../src/oci/layout.js";
import { MediaType } from "../../src/oci/types.js";
import { StrataAnnotation } from "../../src/record/keys.js";
import { sha256Hex } from "../../src/util/hash.js";
import { runStrata } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { strataPackageLayer, type TestPackage } from "../helpers/fleet-images.js";
import { BASE_FILES, OLD_ZLIB, TRACKER_FIXTURE } from "../helpers/page-fleet.js";
import { type SyntheticLayer, syntheticImage } from "../helpers/synthetic-image.js";

/**
 * `strata ps` against real podman containers of strata-like images: podman is configured the way
 * a machine configures it (containers-storage.conf and containers.conf through CONTAINERS_* in the
 * environment), strata runs plain `podman ps`. One image holds a vulnerable zlib1g.
 */

const exec = promisify(execFile);
let dir: string;
let env: Record<string, string>;
const db = () => join(dir, "index.db");

/** The host's sleep and the C library it needs: enough for a container that keeps running. */
async function runnableBaseLayer(): Promise<SyntheticLayer> {
  const pack = tar.pack();
  const files = [
    ["bin/sleep", "/bin/sleep"],
    ["lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"],
    ["lib64/ld-linux-x86-64.so.2", "/lib64/ld-linux-x86-64.so.2"],
  ];
  for (const d of ["bin", "lib", "lib/x86_64-linux-gnu", "lib64", "tmp"])
    pack.entry({ name: d, type: "directory", mode: 0o755, mtime: new Date(0) });
  for (const [path, host] of files)
    pack.entry({ name: path, mode: 0o755, mtime: new Date(0) }, await readFile(host));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  const plain = Buffer.concat(chunks);
  const bytes = gzipSync(plain);
  const annotations = { [StrataAnnotation.layerKind]: "base" };
  return {
    descriptor: descriptorOf(MediaType.ociLayerGzip, bytes, { annotations }),
    diffId: `sha256:${sha256Hex(plain)}`,
    bytes,
  };
}

async function writeImage(name: string, packages: TestPackage[]): Promise<string> {
  const layers = [
    await runnableBaseLayer(),
    ...(await Promise.all(packages.map((p) => strataPackageLayer(p)))),
  ];
  const image = syntheticImage(layers, { label: name });
  await writeLayout(join(dir, name), { kind: "image", image }, { tag: "1" });
  return imageDescriptor(image).digest;
}

function podman(...args: string[]) {
  return exec("podman", args, { env: { ...process.env, ...env }, maxBuffer: 1 << 24 });
}

async function configurePodman(): Promise<void> {
  const storage = join(dir, "storage.conf");
  const containers = join(dir, "containers.conf");
  await writeFile(
    storage,
    `[storage]\ndriver = "vfs"\ngraphroot = "${dir}/storage"\nrunroot = "${dir}/run"\n`,
  );
  await writeFile(
    containers,
    '[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nruntime = "runc"\n',
  );
  env = { CONTAINERS_STORAGE_CONF: storage, CONTAINERS_CONF: containers };
}

/** Copies the layout into podman's storage (skopeo reads the same configuration) and runs it. */
async function run(name: string, layout: string): Promise<void> {
  const image = `localhost/strata-test/${layout}:1`;
  await exec("skopeo", ["copy", "-q", `oci:${join(dir, layout)}:1`, `containers-storage:${image}`], {
    env: { ...process.env, ...env },
  });
  await podman(
    "run",
    "-d",
    "--name",
    name,
    "--network",
    "none",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
    image,
    "/bin/sleep",
    "600",
  );
}

let vulnerableDigest: string;

before(async () => {
  dir = await tempDir("ps-podman");
  await configurePodman();
  vulnerableDigest = await writeImage("vulnerable", [BASE_FILES, OLD_ZLIB]);
  await writeImage("clean", [BASE_FILES, { ...OLD_ZLIB, version: "1:1.2.13.dfsg-1+deb12u1" }]);
  for (const layout of ["vulnerable", "clean"]) {
    const r = await runStrata(["index", "add", `oci:${join(dir, layout)}:1`, "--index", db()]);
    assert.equal(r.code, 0, r.stderr);
  }
  const adv = await runStrata(["advisories", "update", "--from", TRACKER_FIXTURE, "--index", db()]);
  assert.equal(adv.code, 0, adv.stderr);
  await run("shop-api", "vulnerable");
  await run("shop-web", "clean");
});
after(async () => {
  await podman("rm", "-f", "-t", "0", "shop-api", "shop-web").catch(() => undefined);
  await rm(dir, { recursive: true, force: true }).catch(() => undefined);
});

describe("strata ps with podman", () => {
  test("names the running container of the vulnerable image and its vulnerable package", async () => {
    const r = await runStrata(["ps", "--index", db()], { env });
    assert.equal(r.code, 0, r.stderr);
    process.stdout.write(r.stdout.replace(/^/gm, "# "));
    const api = r.stdout.split("\n").find((l) => l.startsWith("shop-api "));
    assert.match(api ?? "", /\s(manifest|config|diff_ids) [0-9a-f]{12}\s+2\s+1 \(1 critical\)$/);
    assert.match(r.stdout.split("\n").find((l) => l.startsWith("shop-web ")) ?? "", /\s2\s+-$/);
    assert.match(
      r.stdout,
      /shop-api: vulnerable packages\n {2}zlib1g 1:1\.2\.13\.dfsg-1 {2}CVE-2023-45853 critical/,
    );
  });

  test("--json joins each container with its indexed image and packages", async () => {
    const r = await runStrata(["ps", "--podman", "--json", "--index", db()], { env });
    assert.equal(r.code, 0, r.stderr);
    const api = JSON.parse(r.stdout).containers.find((c: { name: string }) => c.name === "shop-api");
    assert.equal(api.runtime, "podman");
    assert.equal(api.indexed.digest, vulnerableDigest);
    assert.deepEqual(
      api.packages.map((p: { name: string }) => p.name),
      ["base-files", "zlib1g"],
    );
    assert.deepEqual(
      api.vulnerable.map((f: { id: string }) => f.id),
      ["CVE-2023-45853"],
    );
  });
});
