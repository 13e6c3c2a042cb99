import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runStrata } from "../helpers/cli.js";

/**
 * A cold build's SBOMs read no layer: each layer's details are kept in the cache as it is made
 * (package layers, the group layer, base and files), and they are exactly what reading the layer
 * back gives, so the attached documents are the ones `strata sbom` computes from the layers.
 */

/** Real packages, docs kept (libgcc-s1's doc directory is a symlink to gcc-12-base's), a group layer. */
const SPEC = `archs: [amd64]
packages: [base-files, busybox-static, libgcc-s1]
docs: true
files:
  - { path: /etc/app.conf, content: "key = value\\n" }
layers:
  max: 4
`;

async function strata(
  cache: string,
  cwd: string,
  ...args: string[]
): Promise<{ stdout: string; stderr: string }> {
  const r = await runStrata(["--cache-dir", cache, ...args], { cwd });
  assert.equal(r.code, 0, r.stderr);
  return r;
}

/** The layer digests of the image `latest` of an OCI layout. */
async function layerDigests(layout: string): Promise<string[]> {
  const blob = (digest: string) =>
    readFile(join(layout, "blobs", "sha256", digest.slice("sha256:".length)), "utf8");
  const index = JSON.parse(await readFile(join(layout, "index.json"), "utf8"));
  const entry = index.manifests.find(
    (m: { annotations?: Record<string, string> }) =>
      m.annotations?.["org.opencontainers.image.ref.name"] === "latest",
  );
  const manifest = JSON.parse(await blob(entry.digest));
  return manifest.layers.map((l: { digest: string }) => l.digest);
}

/** The details entries of a cache, by layer digest, parsed. */
async function detailsOf(cache: string): Promise<Map<string, unknown>> {
  const at = join(cache, "layer-details", "v1");
  const out = new Map<string, unknown>();
  for (const name of await readdir(at).catch(() => []))
    out.set(`sha256:${name.replace(/\.json$/, "")}`, JSON.parse(await readFile(join(at, name), "utf8")));
  return out;
}

describe("a cold build's SBOMs read no layer (network: the host's mirror)", { timeout: 300_000 }, () => {
  let work: string;
  const cache = (name: string) => join(work, `cache-${name}`);
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "strata-sbom-cold-"));
    await writeFile(join(work, "strata.yaml"), SPEC);
  });
  after(() => rm(work, { recursive: true, force: true }));

  it("every layer's details are kept as it is made, equal to what reading the layer back finds", async () => {
    // --no-sbom --no-vex: nothing reads a layer for its details (the VEX reads them too), so what the cache holds was kept by the layer writer.
    const out = join(work, "out-plain");
    await strata(cache("plain"), work, "build", "--lock-update", "--no-sbom", "--no-vex", "-o", out);
    const layers = await layerDigests(out);
    assert.equal(layers.length, 4, "base, libc6's own layer, a group of the other four packages, files");
    const kept = await detailsOf(cache("plain"));
    for (const digest of layers) assert.ok(kept.has(digest), `no details kept for layer ${digest}`);

    await strata(cache("read"), work, "sbom", `oci:${out}:latest`, "--no-attached");
    const read = await detailsOf(cache("read"));
    for (const digest of layers) assert.deepEqual(kept.get(digest), read.get(digest), `layer ${digest}`);
    const kinds = new Set(
      [...kept.values()].flatMap((s) =>
        (s as { kept: [string, { kind: string }][] }).kept.map(([, f]) => f.kind),
      ),
    );
    assert.deepEqual([...kinds].sort(), ["copyright", "debian-version", "doc-link", "dpkg", "os-release"]);
  });

  it("a cold build attaches both SBOMs, the documents strata sbom computes reading the layers", async () => {
    const out = join(work, "out-sbom");
    await strata(cache("cold"), work, "build", "-o", out);
    for (const format of ["spdx", "cyclonedx"]) {
      const image = `oci:${out}:latest`;
      const attached = await strata(cache("cold"), work, "sbom", image, "--format", format);
      assert.match(attached.stderr, new RegExp(`the ${format} SBOM attached to`));
      const computed = await strata(
        cache(`read-${format}`),
        work,
        "sbom",
        image,
        "--format",
        format,
        "--no-attached",
      );
      assert.equal(attached.stdout, computed.stdout, `the attached ${format} document is the computed one`);
    }
  });
});
