import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createSign } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { type Artifact, artifactDescriptor, type BlobSource, imageDescriptor } from "../../src/oci/image.js";
import { readLayout, writeLayout } from "../../src/oci/layout.js";
import { mergeScopes, parseChallenges } from "../../src/oci/registry/auth.js";
import { KnownBlobs } from "../../src/oci/registry/known-blobs.js";
import { pullArtifact } from "../../src/oci/registry/pull.js";
import { type PushEvent, type PushOptions, pushArtifact } from "../../src/oci/registry/push.js";
import { isStrataError } from "../../src/util/errors.js";
import {
  type RegistryServer,
  registryBlobPath,
  selfSignedCertificate,
  startRegistry,
} from "../helpers/registry.js";
import { freshImage, imageArtifact, syntheticImage, syntheticIndex } from "../helpers/synthetic-image.js";

const run = promisify(execFile);
const FAST_RETRY = { attempts: 3, baseDelayMs: 50, maxDelayMs: 200 };

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Records every request the client sends, so a test can see which API path it took. */
async function recordingRequests<T>(work: () => Promise<T>): Promise<{ result: T; requests: string[] }> {
  const original = globalThis.fetch;
  const requests: string[] = [];
  globalThis.fetch = (input, init) => {
    const url = new URL(String(input));
    requests.push(`${init?.method ?? "GET"} ${url.pathname}${url.search}`);
    return original(input, init);
  };
  try {
    return { result: await work(), requests };
  } finally {
    globalThis.fetch = original;
  }
}

describe("registry push and pull (starts docker-registry on loopback)", () => {
  let registry: RegistryServer;
  let work: string;
  let known: string;
  const opts = (): PushOptions => ({ retry: FAST_RETRY, knownBlobs: false });

  before(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), "strata-registry-test-"));
    known = join(work, "known-blobs.json");
  });
  after(async () => {
    await registry?.close();
    await rm(work, { recursive: true, force: true });
  });

  test("push an image; skopeo inspects it and copies it back into an oci: dir with the same digest (runs skopeo)", async () => {
    const { image } = await freshImage(2);
    const report = await pushArtifact(imageArtifact(image), `${registry.host}/team/app:v1`, opts());
    const digest = imageDescriptor(image).digest;
    assert.equal(report.digest, digest);
    assert.equal(report.reference, `${registry.host}/team/app:v1@${digest}`);
    assert.deepEqual([report.uploaded, report.skipped, report.mounted], [3, 0, 0]);
    assert.equal(
      report.bytesSent,
      image.configBytes.length + image.manifest.layers.reduce((n, l) => n + l.size, 0),
    );

    const inspect = await run("skopeo", [
      "inspect",
      "--tls-verify=false",
      `docker://${registry.host}/team/app:v1`,
    ]);
    assert.equal(JSON.parse(inspect.stdout).Digest, digest);
    const dir = join(work, "copied");
    await run("skopeo", [
      "copy",
      "--src-tls-verify=false",
      `docker://${registry.host}/team/app:v1`,
      `oci:${dir}:v1`,
    ]);
    const copied = await readLayout(dir, "v1");
    assert.equal(artifactDescriptor(copied).digest, digest);
  });

  test("a second image sharing layers uploads only its own blobs", async () => {
    const base = await freshImage(3);
    await pushArtifact(imageArtifact(base.image), `${registry.host}/team/shared:base`, opts());
    const extra = await freshImage(1);
    const derived = syntheticImage([...base.layers, ...extra.layers], {
      blobs: {
        open: (d) => (d === extra.layers[0].descriptor.digest ? extra.image.blobs : base.image.blobs).open(d),
      },
    });
    const report = await pushArtifact(imageArtifact(derived), `${registry.host}/team/shared:derived`, opts());
    // Its config and the one new layer go up; the three base layers are already there.
    assert.deepEqual([report.uploaded, report.skipped, report.mounted], [2, 3, 0]);
    assert.equal(report.images[0].skipped, 3);
    assert.equal(report.bytesSent, derived.configBytes.length + extra.layers[0].descriptor.size);
  });

  test("a blob pushed before to another repository is mounted, not uploaded", async () => {
    const { image } = await freshImage(2);
    const first = await pushArtifact(imageArtifact(image), `${registry.host}/one/app:v1`, {
      ...opts(),
      knownBlobs: await KnownBlobs.load(known),
    });
    assert.equal(first.uploaded, 3);
    const { result: second, requests } = await recordingRequests(async () =>
      pushArtifact(imageArtifact(image), `${registry.host}/two/app:v1`, {
        ...opts(),
        knownBlobs: await KnownBlobs.load(known),
      }),
    );
    assert.deepEqual([second.uploaded, second.skipped, second.mounted, second.bytesSent], [0, 0, 3, 0]);
    assert.ok(
      requests.some(
        (r) => r.startsWith("POST /v2/two/app/blobs/uploads/?mount=") && r.includes("from=one%2Fapp"),
      ),
    );
    const saved = JSON.parse(await readFile(known, "utf8"));
    assert.deepEqual(saved.registries[registry.host][image.manifest.layers[0].digest], [
      "one/app",
      "two/app",
    ]);
  });

  test("an index of two platforms is pushed and pulled back with equal digests and bytes", async () => {
    const amd = await freshImage(2);
    const arm = await freshImage(1, { platform: { architecture: "arm64", os: "linux", variant: "v8" } });
    const artifact = syntheticIndex([amd.image, arm.image]);
    const report = await pushArtifact(artifact, `${registry.host}/multi/app:v1`, opts());
    assert.equal(report.images.length, 2);
    assert.deepEqual(report.images[1].platform, { architecture: "arm64", os: "linux", variant: "v8" });

    const pulled = await pullArtifact(`${registry.host}/multi/app:v1`, { retry: FAST_RETRY });
    assert.equal(pulled.kind, "index");
    assert.equal(artifactDescriptor(pulled).digest, artifactDescriptor(artifact).digest);
    if (pulled.kind !== "index") return;
    assert.deepEqual(
      pulled.index.images.map((i) => imageDescriptor(i).digest),
      [imageDescriptor(amd.image).digest, imageDescriptor(arm.image).digest],
    );
    const layer = arm.layers[0];
    assert.deepEqual(
      await readAll(await pulled.index.images[1].blobs.open(layer.descriptor.digest)),
      layer.bytes,
    );

    const dir = join(work, "pulled-index");
    await writeLayout(dir, pulled, { tag: "v1" });
    assert.equal(artifactDescriptor(await readLayout(dir, "v1")).digest, artifactDescriptor(artifact).digest);
    const byDigest = await pullArtifact(`${registry.host}/multi/app@${report.digest}`, { retry: FAST_RETRY });
    assert.equal(artifactDescriptor(byDigest).digest, report.digest);
  });

  test("pull verifies blob digests: a layer tampered in registry storage fails with HASH_MISMATCH", async () => {
    const { image, layers } = await freshImage(1);
    await pushArtifact(imageArtifact(image), `${registry.host}/tamper/app:v1`, opts());
    const path = registryBlobPath(registry.storageDir, layers[0].descriptor.digest);
    const bytes = await readFile(path);
    bytes[bytes.length - 5] ^= 0x20;
    await writeFile(path, bytes);
    const pulled = await pullArtifact(`${registry.host}/tamper/app:v1`, { retry: FAST_RETRY });
    await assert.rejects(
      writeLayout(join(work, "tampered"), pulled),
      (err) => isStrataError(err, "HASH_MISMATCH") && err.message.includes(layers[0].descriptor.digest),
    );
  });

  test("pushing from a layout whose blob was tampered fails with HASH_MISMATCH and writes no tag", async () => {
    const { image, layers } = await freshImage(1, { fileSize: 300_000 });
    const dir = join(work, "tampered-source");
    await writeLayout(dir, imageArtifact(image));
    const path = join(dir, "blobs/sha256", layers[0].descriptor.digest.slice("sha256:".length));
    const bytes = await readFile(path);
    bytes[bytes.length - 100] ^= 0x01;
    await writeFile(path, bytes);
    await assert.rejects(
      pushArtifact(await readLayout(dir), `${registry.host}/badsource/app:v1`, opts()),
      (err) => isStrataError(err, "HASH_MISMATCH"),
    );
    await assert.rejects(
      pullArtifact(`${registry.host}/badsource/app:v1`, { retry: FAST_RETRY }),
      (err) => isStrataError(err, "REGISTRY") && /no such manifest/.test(err.message),
    );
  });

  test("blobs above the chunk threshold go up in PATCH chunks with Content-Range", async () => {
    const { image, layers } = await freshImage(1, { fileSize: 40_000 });
    const events: PushEvent[] = [];
    const { requests } = await recordingRequests(() =>
      pushArtifact(imageArtifact(image), `${registry.host}/chunked/app:v1`, {
        ...opts(),
        chunkThreshold: 16_384,
        chunkSize: 16_384,
        onProgress: (e) => events.push(e),
      }),
    );
    const size = layers[0].descriptor.size;
    const patches = requests.filter((r) => r.startsWith("PATCH /v2/chunked/app/blobs/uploads/"));
    assert.equal(patches.length, Math.ceil(size / 16_384));
    const progress = events.filter(
      (e) => e.type === "blob-progress" && e.digest === layers[0].descriptor.digest,
    );
    assert.deepEqual(progress.at(-1), {
      type: "blob-progress",
      digest: layers[0].descriptor.digest,
      sent: size,
      size,
    });
    const pulled = await pullArtifact(`${registry.host}/chunked/app:v1`, { retry: FAST_RETRY });
    if (pulled.kind !== "image") assert.fail("expected an image");
    assert.deepEqual(
      await readAll(await pulled.image.blobs.open(layers[0].descriptor.digest)),
      layers[0].bytes,
    );
  });

  test("pulling a tag that does not exist says so", async () => {
    await assert.rejects(
      pullArtifact(`${registry.host}/team/app:nope`, { retry: FAST_RETRY }),
      (err) => isStrataError(err, "REGISTRY") && /no such manifest/.test(err.message),
    );
  });
});

describe("registry failures mid-push (starts and stops docker-registry on loopback)", () => {
  test("the registry dying mid-push ends in a clear REGISTRY error after retries, and no tag was written", async () => {
    const registry = await startRegistry();
    try {
      const { image, layers } = await freshImage(3);
      // The second layer's bytes are only handed over once the registry is gone.
      const dying: BlobSource = {
        open: async (digest) => {
          if (digest === layers[1].descriptor.digest) await registry.stop();
          return image.blobs.open(digest);
        },
      };
      const artifact: Artifact = { kind: "image", image: { ...image, blobs: dying } };
      const started = Date.now();
      await assert.rejects(
        pushArtifact(artifact, `${registry.host}/crash/app:v1`, {
          retry: FAST_RETRY,
          knownBlobs: false,
          concurrency: 1,
        }),
        (err) => isStrataError(err, "REGISTRY") && /unreachable after 3 attempts/.test(err.message),
      );
      assert.ok(Date.now() - started < 10_000, "retries are bounded");
      await registry.start();
      await assert.rejects(
        pullArtifact(`${registry.host}/crash/app:v1`, { retry: FAST_RETRY }),
        (err) => isStrataError(err, "REGISTRY") && /no such manifest/.test(err.message),
      );
    } finally {
      await registry.close();
    }
  });
});

describe("registry auth (starts docker-registry with htpasswd over TLS)", () => {
  let registry: RegistryServer;
  let work: string;
  const alice = { username: "alice", password: "wonderland" };

  before(async () => {
    registry = await startRegistry({ htpasswd: alice });
    work = await mkdtemp(join(tmpdir(), "strata-auth-test-"));
  });
  after(async () => {
    await registry?.close();
    await rm(work, { recursive: true, force: true });
  });

  test("basic auth with the right credentials pushes and pulls, trusting the registry's CA file", async () => {
    const { image } = await freshImage(1);
    const common = { caFile: registry.caFile, credentials: alice, retry: FAST_RETRY };
    const report = await pushArtifact(imageArtifact(image), `${registry.host}/private/app:v1`, {
      ...common,
      knownBlobs: false,
    });
    assert.equal(report.uploaded, 2);
    const pulled = await pullArtifact(`${registry.host}/private/app:v1`, common);
    assert.equal(artifactDescriptor(pulled).digest, report.digest);
  });

  test("credentials come from an auth file, and tlsVerify false accepts the self-signed certificate", async () => {
    const authFile = join(work, "config.json");
    const auth = Buffer.from(`${alice.username}:${alice.password}`).toString("base64");
    await writeFile(authFile, JSON.stringify({ auths: { [`https://${registry.host}`]: { auth } } }));
    const { image } = await freshImage(1);
    const report = await pushArtifact(imageArtifact(image), `${registry.host}/private/app:v2`, {
      tlsVerify: false,
      authFiles: [authFile],
      retry: FAST_RETRY,
      knownBlobs: false,
    });
    assert.equal(report.digest, imageDescriptor(image).digest);
  });

  test("wrong credentials fail with AUTH naming the user; none fail with AUTH asking for them", async () => {
    const { image } = await freshImage(1);
    const push = (extra: PushOptions) =>
      pushArtifact(imageArtifact(image), `${registry.host}/private/app:v3`, {
        caFile: registry.caFile,
        retry: FAST_RETRY,
        knownBlobs: false,
        authFiles: [],
        ...extra,
      });
    await assert.rejects(
      push({ credentials: { username: "alice", password: "wrong" } }),
      (err) =>
        isStrataError(err, "AUTH") &&
        err.message === `${registry.host}: authentication failed for alice (401)` &&
        /--creds/.test(err.hint ?? ""),
    );
    await assert.rejects(
      push({}),
      (err) => isStrataError(err, "AUTH") && /authentication required/.test(err.message),
    );
  });

  test("an untrusted certificate is a clear REGISTRY error, not a silent downgrade to http", async () => {
    const { image } = await freshImage(1);
    await assert.rejects(
      pushArtifact(imageArtifact(image), `${registry.host}/private/app:v4`, {
        credentials: alice,
        retry: FAST_RETRY,
        knownBlobs: false,
      }),
      (err) =>
        isStrataError(err, "REGISTRY") &&
        /certificate/.test(err.message) &&
        /tls-verify/.test(err.hint ?? ""),
    );
  });
});

/** Signs a JWT with RS256 and the certificate chain in `x5c`, as distribution's token auth expects. */
function signToken(claims: object, keyPem: string, certPem: string): string {
  const der = certPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const part = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const signingInput = `${part({ typ: "JWT", alg: "RS256", x5c: [der] })}.${part(claims)}`;
  const signature = createSign("RSA-SHA256").update(signingInput).sign(keyPem).toString("base64url");
  return `${signingInput}.${signature}`;
}

describe("registry bearer-token auth (starts docker-registry with token auth and a token server on loopback)", () => {
  let registry: RegistryServer;
  let tokenServer: Server;
  let work: string;
  // The token service speaks https: credentials never go to a realm over plain http.
  let tokenCa: string;
  const tokenRequests: string[] = [];
  const bob = { username: "bob", password: "builder" };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "strata-token-test-"));
    const signer = await selfSignedCertificate(work, "token-signer");
    tokenCa = signer.certFile;
    const [keyPem, certPem] = await Promise.all([
      readFile(signer.keyFile, "utf8"),
      readFile(signer.certFile, "utf8"),
    ]);
    const service = "strata-test-registry";
    const issuer = "strata-test-issuer";
    tokenServer = createHttpsServer({ key: keyPem, cert: certPem }, (req, res) => {
      const url = new URL(req.url ?? "/", "https://token");
      tokenRequests.push(url.searchParams.getAll("scope").join(" "));
      const expected = `Basic ${Buffer.from(`${bob.username}:${bob.password}`).toString("base64")}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { "content-type": "application/json" }).end('{"details":"bad credentials"}');
        return;
      }
      const access = url.searchParams.getAll("scope").map((scope) => {
        const [type, name, actions] = scope.split(":");
        return { type, name, actions: actions.split(",") };
      });
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        iss: issuer,
        sub: bob.username,
        aud: service,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: `${now}-${tokenRequests.length}`,
        access,
      };
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ token: signToken(claims, keyPem, certPem), expires_in: 300 }));
    });
    await new Promise<void>((resolve) => tokenServer.listen(0, "127.0.0.1", resolve));
    const realm = `https://127.0.0.1:${(tokenServer.address() as { port: number }).port}/token`;
    registry = await startRegistry({ token: { realm, service, issuer, rootCertFile: signer.certFile } });
  });
  after(async () => {
    await registry?.close();
    await new Promise((resolve) => tokenServer?.close(resolve));
    await rm(work, { recursive: true, force: true });
  });

  test("push and pull through the token challenge, one token per scope set", async () => {
    tokenRequests.length = 0;
    const { image } = await freshImage(3);
    const report = await pushArtifact(imageArtifact(image), `${registry.host}/tok/app:v1`, {
      credentials: bob,
      caFile: tokenCa,
      retry: FAST_RETRY,
      knownBlobs: false,
    });
    assert.equal(report.uploaded, 4);
    // Four blobs in parallel and a manifest, all under one scope: the token is fetched once.
    assert.deepEqual(tokenRequests, ["repository:tok/app:pull,push"]);
    const pulled = await pullArtifact(`${registry.host}/tok/app:v1`, {
      credentials: bob,
      caFile: tokenCa,
      retry: FAST_RETRY,
    });
    assert.equal(artifactDescriptor(pulled).digest, report.digest);
    assert.deepEqual(tokenRequests, ["repository:tok/app:pull,push", "repository:tok/app:pull"]);
  });

  test("a refused token request is an AUTH error naming the user", async () => {
    const { image } = await freshImage(1);
    await assert.rejects(
      pushArtifact(imageArtifact(image), `${registry.host}/tok/app:v2`, {
        credentials: { username: "bob", password: "nope" },
        caFile: tokenCa,
        retry: FAST_RETRY,
        knownBlobs: false,
      }),
      (err) => isStrataError(err, "AUTH") && /authentication failed for bob/.test(err.message),
    );
  });
});

describe("registry client behaviour against a node http fake (starts a server on loopback)", () => {
  test("WWW-Authenticate challenges parse with quoted values, escapes and several schemes", () => {
    assert.deepEqual(
      parseChallenges(
        'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
      ),
      [
        {
          scheme: "bearer",
          params: {
            realm: "https://auth.example/token",
            service: "registry.example",
            scope: "repository:a/b:pull,push",
          },
        },
      ],
    );
    assert.deepEqual(parseChallenges('Basic realm="say \\"hi\\"", Bearer realm=x, error=invalid_token'), [
      { scheme: "basic", params: { realm: 'say "hi"' } },
      { scheme: "bearer", params: { realm: "x", error: "invalid_token" } },
    ]);
  });

  test("token scopes of one repository merge their actions", () => {
    assert.deepEqual(mergeScopes(["repository:a/b:push", "repository:a/b:pull", "repository:c:pull"]), [
      "repository:a/b:pull,push",
      "repository:c:pull",
    ]);
  });

  test("5xx and 429 answers are retried a bounded number of times, then a REGISTRY error names the status", async () => {
    const seen: string[] = [];
    let throttled = 0;
    const fake = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (req.url === "/v2/") return void res.writeHead(200).end("{}");
      if (req.url?.includes("/flaky/") && throttled++ === 0) return void res.writeHead(429).end();
      if (req.url?.includes("/flaky/"))
        return void res.writeHead(404, { "content-type": "application/json" }).end('{"errors":[]}');
      res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
    const host = `127.0.0.1:${(fake.address() as { port: number }).port}`;
    try {
      await assert.rejects(
        pullArtifact(`${host}/down/app:v1`, { retry: FAST_RETRY, authFiles: [] }),
        (err) =>
          isStrataError(err, "REGISTRY") && /unreachable after 3 attempts \(HTTP 503/.test(err.message),
      );
      assert.equal(seen.filter((r) => r.startsWith("GET /v2/down/app/manifests/v1")).length, 3);
      await assert.rejects(
        pullArtifact(`${host}/flaky/app:v1`, { retry: FAST_RETRY, authFiles: [] }),
        (err) => isStrataError(err, "REGISTRY") && /no such manifest/.test(err.message),
      );
      assert.equal(seen.filter((r) => r.startsWith("GET /v2/flaky/app/manifests/v1")).length, 2);
    } finally {
      await new Promise((resolve) => fake.close(resolve));
    }
  });
});
