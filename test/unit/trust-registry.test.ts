import assert from "node:assert/strict";
import type { Readable } from "node:stream";
import { describe, test } from "node:test";
import { artifactDescriptor, artifactImages, jsonBytes } from "../../src/oci/image.js";
import { RegistryClient } from "../../src/oci/registry/client.js";
import { pullArtifact, pullIfPresent } from "../../src/oci/registry/pull.js";
import { pushArtifact } from "../../src/oci/registry/push.js";
import { referrerPayload } from "../../src/oci/registry/referrers.js";
import { RemoteRepository } from "../../src/oci/registry/repository.js";
import { MediaType } from "../../src/oci/types.js";
import { isStrataError } from "../../src/util/errors.js";
import { sha256Hex } from "../../src/util/hash.js";
import { serve } from "../helpers/loopback.js";
import { freshImage, syntheticIndex } from "../helpers/synthetic-image.js";

/** A registry is untrusted: every manifest and blob it serves is checked against the digest it is named by. */

const FAST = { retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 }, knownBlobs: false as const };
const digestOf = (bytes: Buffer) => `sha256:${sha256Hex(bytes)}`;

interface Served {
  body: Buffer;
  headers?: Record<string, string>;
  /** 200 unless said; a 503 is a registry that is down. */
  status?: number;
}

/** How a manifest PUT is answered: its status (201 unless said) and Docker-Content-Digest, if any. */
type PutAnswer = (reference: string, sent: Buffer) => { status?: number; digest?: string };

/**
 * A distribution registry on loopback serving `paths` (`/v2/app/manifests/v1`, `/v2/app/blobs/<digest>`)
 * as given, a 404 for anything else; requests are recorded. Manifest PUTs are answered by `put`.
 */
async function hostileRegistry(paths: Map<string, Served>, put?: PutAnswer) {
  const requests: string[] = [];
  const server = await serve((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    requests.push(`${req.method} ${path}`);
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      if (path === "/v2/") return res.writeHead(200).end("{}");
      if (req.method === "HEAD" && path.includes("/blobs/"))
        return res.writeHead(200, { "content-length": "0" }).end();
      if (req.method === "PUT" && put) {
        const answer = put(path.split("/manifests/")[1], Buffer.concat(chunks));
        const headers = answer.digest === undefined ? {} : { "docker-content-digest": answer.digest };
        return res.writeHead(answer.status ?? 201, headers).end();
      }
      const served = paths.get(path);
      if (!served) return res.writeHead(404).end();
      res
        .writeHead(served.status ?? 200, { "content-length": String(served.body.length), ...served.headers })
        .end(served.body);
    });
  });
  return { ...server, host: server.url.replace("http://", ""), requests };
}

/** Runs `body` against a hostileRegistry, closed after it whatever happens. */
async function withRegistry(
  paths: Map<string, Served>,
  body: (registry: Awaited<ReturnType<typeof hostileRegistry>>) => Promise<void>,
  put?: PutAnswer,
): Promise<void> {
  const registry = await hostileRegistry(paths, put);
  try {
    await body(registry);
  } finally {
    await registry.close();
  }
}

/** The registry paths of an image under `app`: its manifest (by tag and digest), config and layers. */
async function imagePaths(tag = "v1") {
  const { image, layers } = await freshImage(2);
  const manifestHeaders = { "content-type": MediaType.ociManifest };
  const paths = new Map<string, Served>([
    [`/v2/app/manifests/${tag}`, { body: image.manifestBytes, headers: manifestHeaders }],
    [
      `/v2/app/manifests/${digestOf(image.manifestBytes)}`,
      { body: image.manifestBytes, headers: manifestHeaders },
    ],
    [`/v2/app/blobs/${image.manifest.config.digest}`, { body: image.configBytes }],
  ]);
  for (const l of layers) paths.set(`/v2/app/blobs/${l.descriptor.digest}`, { body: l.bytes });
  return { image, layers, paths, digest: digestOf(image.manifestBytes) };
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `bytes` with one byte changed: the same size, another sha256. */
function flipped(bytes: Buffer): Buffer {
  const copy = Buffer.from(bytes);
  copy[copy.length >> 1] ^= 0xff;
  return copy;
}

describe("pull checks every manifest and blob against its digest", { timeout: 120_000 }, () => {
  test("an honest registry's image is pulled whole, named by the sha256 of its manifest", async () => {
    const { image, layers, paths, digest } = await imagePaths();
    await withRegistry(paths, async (registry) => {
      const artifact = await pullArtifact(`${registry.host}/app:v1`, FAST);
      assert.deepEqual(artifactDescriptor(artifact), {
        mediaType: MediaType.ociManifest,
        digest,
        size: image.manifestBytes.length,
      });
      const [pulled] = artifactImages(artifact);
      assert.deepEqual(pulled.configBytes, image.configBytes);
      for (const l of layers)
        assert.deepEqual(await readAll(await pulled.blobs.open(l.descriptor.digest)), l.bytes);
      const byDigest = await pullArtifact({ registry: registry.host, repository: "app", digest }, FAST);
      assert.equal(artifactDescriptor(byDigest).digest, digest);
    });
  });

  test("a manifest fetched by tag whose Docker-Content-Digest is another digest is HASH_MISMATCH", async () => {
    const { paths, digest } = await imagePaths();
    const other = `sha256:${"e".repeat(64)}`;
    const tagged = paths.get("/v2/app/manifests/v1")!;
    paths.set("/v2/app/manifests/v1", {
      ...tagged,
      headers: { ...tagged.headers, "docker-content-digest": other },
    });
    await withRegistry(paths, async (registry) => {
      await assert.rejects(
        pullArtifact(`${registry.host}/app:v1`, FAST),
        (err) =>
          isStrataError(err, "HASH_MISMATCH") &&
          err.message === `${registry.host}/app:v1: manifest bytes hash to ${digest}, registry says ${other}`,
      );
      // The same header on the right digest is no objection.
      paths.set("/v2/app/manifests/v1", {
        ...tagged,
        headers: { ...tagged.headers, "docker-content-digest": digest },
      });
      assert.equal(artifactDescriptor(await pullArtifact(`${registry.host}/app:v1`, FAST)).digest, digest);
    });
  });

  test("a manifest fetched by digest is judged by its bytes, not by what the registry says it is", async () => {
    const { image, paths, digest } = await imagePaths();
    const path = `/v2/app/manifests/${digest}`;
    paths.set(path, {
      body: image.manifestBytes,
      headers: { "docker-content-digest": `sha256:${"e".repeat(64)}` },
    });
    await withRegistry(paths, async (registry) => {
      const ref = `${registry.host}/app@${digest}`;
      assert.equal(artifactDescriptor(await pullArtifact(ref, FAST)).digest, digest);
      paths.set(path, { body: flipped(image.manifestBytes) });
      await assert.rejects(pullArtifact(ref, FAST), (err) => isStrataError(err, "HASH_MISMATCH"));
    });
  });

  test("a malformed Docker-Content-Digest is a REGISTRY error naming the request", async () => {
    const { paths } = await imagePaths();
    paths.get("/v2/app/manifests/v1")!.headers = { "docker-content-digest": "sha256:../../etc/passwd" };
    await withRegistry(paths, async (registry) => {
      await assert.rejects(
        pullArtifact(`${registry.host}/app:v1`, FAST),
        (err) =>
          isStrataError(err, "REGISTRY") &&
          err.message.startsWith(
            `${registry.host}/app: get manifest v1: Docker-Content-Digest: "../../etc/passwd" is not a sha256`,
          ),
      );
    });
  });

  test("a config blob that is not the one the manifest names is HASH_MISMATCH", async () => {
    const { image, paths } = await imagePaths();
    paths.set(`/v2/app/blobs/${image.manifest.config.digest}`, { body: flipped(image.configBytes) });
    await withRegistry(paths, async (registry) => {
      await assert.rejects(
        pullArtifact(`${registry.host}/app:v1`, FAST),
        (err) =>
          isStrataError(err, "HASH_MISMATCH") &&
          err.message.startsWith(`${registry.host}/app: blob ${image.manifest.config.digest}: sha256 is `),
      );
    });
  });

  test("a layer of the right size and another sha256 fails its reader at the end", async () => {
    const { layers, paths } = await imagePaths();
    const [layer] = layers;
    paths.set(`/v2/app/blobs/${layer.descriptor.digest}`, { body: flipped(layer.bytes) });
    await withRegistry(paths, async (registry) => {
      const [pulled] = artifactImages(await pullArtifact(`${registry.host}/app:v1`, FAST));
      await assert.rejects(
        readAll(await pulled.blobs.open(layer.descriptor.digest)),
        (err) =>
          isStrataError(err, "HASH_MISMATCH") &&
          err.message.startsWith(`${registry.host}/app: blob ${layer.descriptor.digest}: sha256 is `),
      );
      // The other layer is unharmed.
      assert.deepEqual(await readAll(await pulled.blobs.open(layers[1].descriptor.digest)), layers[1].bytes);
    });
  });

  test("a layer shorter than its descriptor fails its reader with SIZE_MISMATCH", async () => {
    const { layers, paths } = await imagePaths();
    const [layer] = layers;
    paths.set(`/v2/app/blobs/${layer.descriptor.digest}`, { body: layer.bytes.subarray(0, 10) });
    await withRegistry(paths, async (registry) => {
      const [pulled] = artifactImages(await pullArtifact(`${registry.host}/app:v1`, FAST));
      await assert.rejects(readAll(await pulled.blobs.open(layer.descriptor.digest)), (err) =>
        isStrataError(err, "SIZE_MISMATCH"),
      );
    });
  });

  test("a registry that is down names the request that failed: the manifest, then a blob", async () => {
    const { layers, paths } = await imagePaths();
    const down = (served: Served | undefined) => ({ body: served?.body ?? Buffer.alloc(0), status: 503 });
    const tagged = paths.get("/v2/app/manifests/v1");
    paths.set("/v2/app/manifests/v1", down(tagged));
    await withRegistry(paths, async (registry) => {
      const ref = `${registry.host}/app:v1`;
      await assert.rejects(
        pullArtifact(ref, FAST),
        (err) =>
          isStrataError(err, "REGISTRY") &&
          err.message.startsWith(`${registry.host}: get manifest v1: registry unreachable after 1 attempts`),
      );
      paths.set("/v2/app/manifests/v1", tagged!);
      const [pulled] = artifactImages(await pullArtifact(ref, FAST));
      const layer = layers[0].descriptor.digest;
      paths.set(`/v2/app/blobs/${layer}`, down(undefined));
      await assert.rejects(
        pulled.blobs.open(layer),
        (err) =>
          isStrataError(err, "REGISTRY") &&
          err.message.startsWith(
            `${registry.host}: get blob ${layer}: registry unreachable after 1 attempts`,
          ),
      );
    });
  });

  test("a blob the manifest does not describe is never asked for", async () => {
    const { paths } = await imagePaths();
    await withRegistry(paths, async (registry) => {
      const [pulled] = artifactImages(await pullArtifact(`${registry.host}/app:v1`, FAST));
      const stranger = `sha256:${"f".repeat(64)}`;
      const asked = registry.requests.length;
      await assert.rejects(
        pulled.blobs.open(stranger),
        (err) =>
          isStrataError(err, "REGISTRY") &&
          err.message === `${registry.host}/app: blob ${stranger} is not described by the manifest`,
      );
      assert.equal(registry.requests.length, asked);
    });
  });

  test("a missing manifest is nothing for pullIfPresent, and a REGISTRY error with a hint for pullArtifact", async () => {
    await withRegistry(new Map(), async (registry) => {
      assert.equal(await pullIfPresent(`${registry.host}/app:v1`, FAST), undefined);
      await assert.rejects(
        pullArtifact(`${registry.host}/app:v1`, FAST),
        (err) =>
          isStrataError(err, "REGISTRY") &&
          err.message === `${registry.host}/app:v1: no such manifest (404)` &&
          err.hint === "check the repository name and tag",
      );
    });
  });

  test("an index's child manifests are checked and each child's layers may be read", async () => {
    const [a, b] = [await imagePaths("a"), await imagePaths("b")];
    const artifact = syntheticIndex([a.image, b.image]);
    if (artifact.kind !== "index") throw new Error("not an index");
    const paths = new Map([...a.paths, ...b.paths]);
    paths.set("/v2/app/manifests/multi", {
      body: artifact.index.indexBytes,
      headers: { "content-type": MediaType.ociIndex },
    });
    await withRegistry(paths, async (registry) => {
      const pulled = artifactImages(await pullArtifact(`${registry.host}/app:multi`, FAST));
      assert.equal(pulled.length, 2);
      assert.deepEqual(
        await readAll(await pulled[1].blobs.open(b.layers[0].descriptor.digest)),
        b.layers[0].bytes,
      );
      paths.set(`/v2/app/manifests/${b.digest}`, { body: flipped(b.image.manifestBytes) });
      await assert.rejects(pullArtifact(`${registry.host}/app:multi`, FAST), (err) =>
        isStrataError(err, "HASH_MISMATCH"),
      );
      paths.delete(`/v2/app/manifests/${b.digest}`);
      await assert.rejects(
        pullArtifact(`${registry.host}/app:multi`, FAST),
        (err) =>
          isStrataError(err, "REGISTRY") &&
          err.message === `${registry.host}/app: manifest ${b.digest} is missing`,
      );
    });
  });
});

describe("push trusts only a manifest the registry stored as sent", { timeout: 60_000 }, () => {
  const other = `sha256:${"e".repeat(64)}`;
  for (const [what, answer, refused] of [
    [
      "a digest PUT answered with another digest is refused before any tag, with a hint",
      () => ({ digest: other }),
      (err: unknown, host: string, digest: string) =>
        isStrataError(err, "HASH_MISMATCH") &&
        err.message ===
          `${host}/app: registry stored manifest ${digest} as ${other}, expected ${digest}; no tag was set` &&
        err.hint ===
          "the registry altered the manifest; check it (or a proxy in front of it) before trusting the tag",
    ],
    [
      "a registry that is down for a manifest PUT is named with the PUT in the error",
      () => ({ status: 503 }),
      (err: unknown, host: string, digest: string) =>
        isStrataError(err, "REGISTRY") &&
        err.message.startsWith(`${host}: put manifest ${digest}: registry unreachable after 1 attempts`),
    ],
  ] as const) {
    test(what, () =>
      withRegistry(
        new Map(),
        async (registry) => {
          const { image } = await freshImage(1);
          await assert.rejects(
            pushArtifact({ kind: "image", image }, `${registry.host}/app:v1`, FAST),
            (err) => refused(err, registry.host, digestOf(image.manifestBytes)),
          );
        },
        answer,
      ),
    );
  }

  for (const [what, answer] of [
    ["stores what was sent", (_reference: string, sent: Buffer) => ({ digest: digestOf(sent) })],
    ["reports no digest for a stored manifest", () => ({})],
  ] as const) {
    test(`a registry that ${what} gets the tag`, () =>
      withRegistry(
        new Map(),
        async (registry) => {
          const { image } = await freshImage(1);
          await pushArtifact({ kind: "image", image }, `${registry.host}/app:v1`, FAST);
          assert.ok(registry.requests.includes("PUT /v2/app/manifests/v1"));
        },
        answer,
      ));
  }
});

describe("an attached payload is read bounded and checked against its digest", { timeout: 60_000 }, () => {
  const payload = jsonBytes({ predicateType: "https://example.invalid/test", subject: [] });
  const descriptor = { mediaType: "application/json", digest: digestOf(payload), size: payload.length };

  /** Runs `body` with a repository whose registry serves `served` under the payload's digest. */
  const withRepository = (
    served: Buffer,
    body: (registry: { host: string; requests: string[] }, repo: RemoteRepository) => Promise<void>,
  ) =>
    withRegistry(new Map([[`/v2/app/blobs/${descriptor.digest}`, { body: served }]]), async (registry) =>
      body(registry, new RemoteRepository(await RegistryClient.connect(registry.host, FAST), "app")),
    );

  test("the payload its digest names is returned", () =>
    withRepository(payload, async (_registry, repo) => {
      assert.deepEqual(await referrerPayload(repo, descriptor, payload.length), payload);
    }));

  test("a payload larger than allowed is refused without asking for it", () =>
    withRepository(payload, async (registry, repo) => {
      const asked = registry.requests.length;
      await assert.rejects(
        referrerPayload(repo, descriptor, payload.length - 1),
        (err) =>
          isStrataError(err, "REGISTRY") &&
          err.message ===
            `${registry.host}/app: attached blob ${descriptor.digest} is ${payload.length} bytes, more than ${payload.length - 1}`,
      );
      assert.equal(registry.requests.length, asked);
    }));

  test("a registry that is down for the payload names the blob in the error", async () => {
    await withRegistry(
      new Map([[`/v2/app/blobs/${descriptor.digest}`, { body: payload, status: 503 }]]),
      async (registry) => {
        const repo = new RemoteRepository(await RegistryClient.connect(registry.host, FAST), "app");
        await assert.rejects(
          referrerPayload(repo, descriptor, 1 << 20),
          (err) =>
            isStrataError(err, "REGISTRY") &&
            err.message.startsWith(
              `${registry.host}: get blob ${descriptor.digest}: registry unreachable after 1 attempts`,
            ),
        );
      },
    );
  });

  test("other bytes under the payload's digest are HASH_MISMATCH", () =>
    withRepository(flipped(payload), async (registry, repo) => {
      await assert.rejects(
        referrerPayload(repo, descriptor, 1 << 20),
        (err) =>
          isStrataError(err, "HASH_MISMATCH") &&
          err.message.startsWith(`${registry.host}/app: blob ${descriptor.digest}: sha256 is `),
      );
    }));
});
