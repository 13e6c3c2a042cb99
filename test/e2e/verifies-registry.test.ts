import assert from "node:assert/strict";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Artifact } from "../../src/oci/image.js";
import { writeLocation } from "../../src/oci/locations/locations.js";
import { parseLocationName } from "../../src/oci/locations/name.js";
import { pullArtifact } from "../../src/oci/registry/pull.js";
import { pushArtifact } from "../../src/oci/registry/push.js";
import { attachSboms } from "../../src/sbom/attach.js";
import { isStrataError } from "../../src/util/errors.js";
import { assertOneLineError, isolatedEnv, type RunResult, runStrata } from "../helpers/cli.js";
import { serve } from "../helpers/loopback.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";
import { LICENCES, PACKAGES, strataLikeImage } from "../helpers/sbom-image.js";
import { syntheticImage, syntheticIndex, syntheticLayer } from "../helpers/synthetic-image.js";
import { flippedMiddle, oneByteLonger, otherLastDigit } from "../helpers/tamper.js";

/** The built CLI, with its cache and fleet index in a temp dir of their own. */
const strata = async (args: string[]): Promise<RunResult> => runStrata(args, { env: await isolatedEnv() });

/**
 * README "What strata verifies": registries. A real docker-registry holds an index of two images;
 * a man in the middle on loopback alters one answer (the index, a platform manifest, a config, a
 * layer). `strata pull` through it must fail in one line and write nothing.
 */

const REPO = "verifies/app";
const SBOM_REPO = "verifies/described";

interface Tampering {
  /** The request path whose GET answer is altered. */
  path: string;
  alter: (body: Buffer) => Buffer;
  /** Drop Docker-Content-Digest too, as a careful man in the middle would. */
  dropDigestHeader?: boolean;
}

/**
 * A proxy in front of `registry` that alters the GET answer of `tampering.path` (when set) and
 * records every request path in `seen`.
 */
async function tamperingProxy(
  registry: RegistryServer,
  current: () => Tampering | undefined,
  seen: string[],
) {
  return serve(async (req, res) => {
    seen.push(req.url ?? "");
    const upstream = await fetch(`http://${registry.host}${req.url}`, {
      method: req.method,
      headers: Object.fromEntries(
        Object.entries(req.headers).filter(([k, v]) => k !== "host" && typeof v === "string"),
      ) as Record<string, string>,
      redirect: "manual",
    });
    let body: Buffer = Buffer.from(await upstream.arrayBuffer());
    const headers = Object.fromEntries(upstream.headers);
    const tampering = current();
    if (req.method === "GET" && upstream.ok && tampering && tampering.path === req.url) {
      body = tampering.alter(body);
      if (tampering.dropDigestHeader) delete headers["docker-content-digest"];
    }
    delete headers["content-encoding"];
    delete headers["transfer-encoding"];
    headers["content-length"] = String(body.length);
    res.writeHead(upstream.status, headers);
    res.end(req.method === "HEAD" ? undefined : body);
  });
}

describe("strata pull refuses what a registry serves unless it is what the digests say (starts docker-registry on loopback)", () => {
  let registry: RegistryServer;
  let proxy: Awaited<ReturnType<typeof tamperingProxy>>;
  let tampering: Tampering | undefined;
  let artifact: Artifact & { kind: "index" };
  let indexDigest: string;
  /** A layer of another image of the same repository, which no manifest of the index names. */
  let foreignLayer: string;
  const seen: string[] = [];
  /** An image with an SPDX SBOM attached (through the sha256-<hex> tag): its manifest and document. */
  const sbom = { manifest: "", document: "" };

  before(async () => {
    registry = await startRegistry();
    const images = await Promise.all(
      (["amd64", "arm64"] as const).map(async (architecture) =>
        syntheticImage([await syntheticLayer({ files: 2, fileSize: 4096 })], {
          platform: { architecture, os: "linux" },
        }),
      ),
    );
    artifact = syntheticIndex(images) as Artifact & { kind: "index" };
    indexDigest = (await pushArtifact(artifact, `${registry.host}/${REPO}:1`, { knownBlobs: false })).digest;
    const foreign = syntheticImage([await syntheticLayer()]);
    foreignLayer = foreign.manifest.layers[0].digest;
    await pushArtifact({ kind: "image", image: foreign }, `${registry.host}/${REPO}:other`, {
      knownBlobs: false,
    });
    proxy = await tamperingProxy(registry, () => tampering, seen);
    const location = parseLocationName(`docker://${registry.host}/${SBOM_REPO}:1`)!;
    const described = await strataLikeImage(PACKAGES, LICENCES);
    await writeLocation(
      location,
      { kind: "image", image: described },
      { refName: "latest", archiveName: "x:1" },
    );
    const [report] = await attachSboms(location, { kind: "image", image: described }, { formats: ["spdx"] });
    sbom.manifest = report.digest;
    const manifest = await fetch(`http://${registry.host}/v2/${SBOM_REPO}/manifests/${report.digest}`, {
      headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
    });
    sbom.document = ((await manifest.json()) as { layers: { digest: string }[] }).layers[0].digest;
  });
  after(async () => {
    await proxy?.close();
    await registry?.close();
  });

  /** `strata pull` of `ref` (through the proxy) with `t` in force: refused, nothing written. */
  async function expectRefused(t: Tampering, message: RegExp, ref = `${REPO}:1`): Promise<void> {
    const host = proxy.url.slice("http://".length);
    const work = await mkdtemp(join(tmpdir(), "strata-verifies-pull-"));
    try {
      tampering = t;
      const r = await strata(["pull", `${host}/${ref}`, "-o", `oci:${join(work, "out")}`]);
      assertOneLineError(r, message);
      assert.deepEqual(await readdir(work), [], "no output, no temp sibling");
      tampering = undefined;
      const clean = await strata(["pull", `${host}/${ref}`, "-o", `oci:${join(work, "out")}`]);
      assert.equal(clean.code, 0, `the untampered pull works: ${clean.stderr}`);
    } finally {
      tampering = undefined;
      await rm(work, { recursive: true, force: true });
    }
  }

  const manifestPath = (ref: string) => `/v2/${REPO}/manifests/${ref}`;
  const blobPath = (digest: string) => `/v2/${REPO}/blobs/${digest}`;
  const mismatch = (digest: string) =>
    new RegExp(`${digest}.*sha256 is (?!${digest.slice(7)})[0-9a-f]{64}, expected ${digest.slice(7)}$`);

  test("an index altered under its tag, the registry's digest header kept, is HASH_MISMATCH", () =>
    expectRefused(
      { path: manifestPath("1"), alter: otherLastDigit },
      new RegExp(`manifest bytes hash to sha256:[0-9a-f]{64}, registry says ${indexDigest}$`),
    ));

  test("an index pulled by digest and altered, the digest header dropped, is HASH_MISMATCH", () =>
    expectRefused(
      { path: manifestPath(indexDigest), alter: otherLastDigit, dropDigestHeader: true },
      mismatch(indexDigest),
      `${REPO}@${indexDigest}`,
    ));

  test("a platform manifest the index names, altered, is HASH_MISMATCH", () => {
    const digest = artifact.index.index.manifests[1].digest;
    return expectRefused(
      { path: manifestPath(digest), alter: otherLastDigit, dropDigestHeader: true },
      mismatch(digest),
    );
  });

  test("a config blob altered at its size is HASH_MISMATCH", () => {
    const digest = artifact.index.images[0].manifest.config.digest;
    return expectRefused({ path: blobPath(digest), alter: otherLastDigit }, mismatch(digest));
  });

  test("a layer blob altered at its size is HASH_MISMATCH", () => {
    const digest = artifact.index.images[1].manifest.layers[0].digest;
    return expectRefused({ path: blobPath(digest), alter: flippedMiddle }, mismatch(digest));
  });

  test("a layer blob one byte longer than its descriptor is SIZE_MISMATCH", () => {
    const digest = artifact.index.images[0].manifest.layers[0].digest;
    return expectRefused(
      { path: blobPath(digest), alter: oneByteLonger },
      new RegExp(`${digest}.*(more than the expected \\d+ bytes|got \\d+ bytes, expected \\d+)`),
    );
  });

  test("a layer read straight from the registry (as run, diff and sbom read layers) fails at its end", async () => {
    const digest = artifact.index.images[1].manifest.layers[0].digest;
    tampering = { path: blobPath(digest), alter: flippedMiddle };
    try {
      const pulled = await pullArtifact(`${proxy.url.slice("http://".length)}/${REPO}:1`);
      assert.ok(pulled.kind === "index");
      const stream = await pulled.index.images[1].blobs.open(digest);
      await assert.rejects(
        (async () => {
          for await (const _ of stream);
        })(),
        (err) => isStrataError(err, "HASH_MISMATCH") && err.message.includes(`${REPO}: blob ${digest}`),
      );
    } finally {
      tampering = undefined;
    }
  });

  test("a blob no verified manifest describes is never asked of the registry", async () => {
    const pulled = await pullArtifact(`${proxy.url.slice("http://".length)}/${REPO}:1`);
    assert.ok(pulled.kind === "index");
    await assert.rejects(
      pulled.index.images[0].blobs.open(foreignLayer),
      (err) => isStrataError(err, "REGISTRY") && /is not described by the manifest/.test(err.message),
    );
    assert.equal(seen.filter((path) => path.includes(foreignLayer)).length, 0);
  });

  for (const part of ["manifest", "document"] as const) {
    test(`strata sbom refuses an attached SBOM whose ${part} the registry serves altered at its size`, async () => {
      const digest = sbom[part];
      const path = `/v2/${SBOM_REPO}/${part === "manifest" ? "manifests" : "blobs"}/${digest}`;
      tampering = { path, alter: otherLastDigit, dropDigestHeader: true };
      try {
        const host = proxy.url.slice("http://".length);
        assertOneLineError(await strata(["sbom", `docker://${host}/${SBOM_REPO}:1`]), mismatch(digest));
      } finally {
        tampering = undefined;
      }
    });
  }
});
