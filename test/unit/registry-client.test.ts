import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { jsonBytes } from "../../src/oci/image.js";
import { writeLayout } from "../../src/oci/layout.js";
import { Authenticator } from "../../src/oci/registry/auth.js";
import { UnresolvedHost, withRetry } from "../../src/oci/registry/client.js";
import { pullArtifact } from "../../src/oci/registry/pull.js";
import { pushArtifact } from "../../src/oci/registry/push.js";
import { MediaType } from "../../src/oci/types.js";
import { isStrataError } from "../../src/util/errors.js";
import { sha256Hex } from "../../src/util/hash.js";
import { runStrata } from "../helpers/cli.js";
import { endlessBody, serve, shortHttpTimeout } from "../helpers/loopback.js";
import { freshImage, imageArtifact } from "../helpers/synthetic-image.js";

const FAST = { retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10 }, knownBlobs: false as const };
const CREDS = { username: "bob", password: "secret" };

interface Seen {
  method: string;
  path: string;
  authorization?: string;
}

/**
 * A fake distribution registry on loopback: every blob "exists" (so a push only PUTs manifests),
 * and `manifest` decides how manifest requests are answered. Requests are recorded.
 */
async function fakeRegistry(manifest: (req: IncomingMessage, res: ServerResponse, seen: Seen[]) => void) {
  const seen: Seen[] = [];
  const server = await serve((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    seen.push({ method: req.method ?? "", path, authorization: req.headers.authorization });
    if (path === "/v2/") res.writeHead(200).end("{}");
    else if (path.includes("/blobs/")) res.writeHead(200, { "content-length": "0" }).end();
    else if (path.includes("/manifests/")) manifest(req, res, seen);
    else res.writeHead(404).end();
  });
  return { ...server, host: server.url.replace("http://", ""), seen };
}

/** Answers manifest PUTs with 201 and the Docker-Content-Digest that `reported(reference, sent)` gives. */
function putAnswers(reported: (reference: string, sentDigest: string) => string) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const reference = (req.url ?? "").split("/manifests/")[1];
      const digest = reported(reference, `sha256:${sha256Hex(Buffer.concat(chunks))}`);
      res.writeHead(201, { "docker-content-digest": digest }).end();
    });
  };
}

describe("push puts the tag only on a manifest the registry stored as sent", () => {
  test("a registry that reports a wrong digest for the manifest never gets the tag", async () => {
    const registry = await fakeRegistry(putAnswers(() => `sha256:${"e".repeat(64)}`));
    try {
      const { image } = await freshImage(1);
      await assert.rejects(
        pushArtifact(imageArtifact(image), `${registry.host}/app:v1`, FAST),
        (err) => isStrataError(err, "HASH_MISMATCH") && /no tag was set/.test(err.message),
      );
      const puts = registry.seen.filter((r) => r.method === "PUT").map((r) => r.path);
      assert.equal(puts.length, 1);
      assert.match(puts[0], /\/manifests\/sha256:[0-9a-f]{64}$/);
    } finally {
      await registry.close();
    }
  });

  test("a tag PUT answered with a wrong digest says so", async () => {
    const registry = await fakeRegistry(
      putAnswers((reference, sent) => (reference === "v1" ? `sha256:${"e".repeat(64)}` : sent)),
    );
    try {
      const { image } = await freshImage(1);
      await assert.rejects(
        pushArtifact(imageArtifact(image), `${registry.host}/app:v1`, FAST),
        (err) => isStrataError(err, "HASH_MISMATCH") && /the tag v1 may point at it/.test(err.message),
      );
      assert.deepEqual(
        registry.seen.filter((r) => r.method === "PUT").map((r) => r.path.replace(/sha256:.*/, "DIGEST")),
        ["/v2/app/manifests/DIGEST", "/v2/app/manifests/v1"],
      );
    } finally {
      await registry.close();
    }
  });

  test("a malformed Docker-Content-Digest on a PUT is a REGISTRY error", async () => {
    const registry = await fakeRegistry(putAnswers(() => "sha256:../../../etc/passwd"));
    try {
      const { image } = await freshImage(1);
      await assert.rejects(pushArtifact(imageArtifact(image), `${registry.host}/app:v1`, FAST), (err) =>
        isStrataError(err, "REGISTRY"),
      );
    } finally {
      await registry.close();
    }
  });
});

/** A registry serving one manifest (and its config blob) for every manifest GET. */
async function servingManifest(manifest: object, headers: Record<string, string> = {}) {
  const config = jsonBytes({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } });
  const configDigest = `sha256:${sha256Hex(config)}`;
  const body = jsonBytes({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: configDigest, size: config.length },
    layers: [],
    ...manifest,
  });
  const registry = await serve((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/v2/") res.writeHead(200).end("{}");
    else if (path.includes("/manifests/"))
      res.writeHead(200, { "content-type": MediaType.ociManifest, ...headers }).end(body);
    else if (path.endsWith(`/blobs/${configDigest}`)) res.writeHead(200).end(config);
    else res.writeHead(404).end();
  });
  return { ...registry, host: registry.url.replace("http://", "") };
}

describe("pull refuses malformed digests from a registry cleanly", () => {
  const cases: [string, object, Record<string, string>][] = [
    [
      "a layer digest that is a path",
      { layers: [{ mediaType: MediaType.ociLayerGzip, digest: "sha256:../../x", size: 1 }] },
      {},
    ],
    [
      "a config digest that is not hex",
      { config: { mediaType: MediaType.ociConfig, digest: "sha256:zz", size: 2 } },
      {},
    ],
    ["a Docker-Content-Digest that is not sha256:<64 hex>", {}, { "docker-content-digest": "sha256:nothex" }],
    [
      "a layer with an impossible size",
      { layers: [{ mediaType: MediaType.ociLayerGzip, digest: `sha256:${"a".repeat(64)}`, size: -1 }] },
      {},
    ],
  ];
  for (const [what, manifest, headers] of cases) {
    test(`${what} is a REGISTRY error`, async () => {
      const registry = await servingManifest(manifest, headers);
      try {
        await assert.rejects(pullArtifact(`${registry.host}/app:v1`, FAST), (err) =>
          isStrataError(err, "REGISTRY"),
        );
      } finally {
        await registry.close();
      }
    });
  }
});

describe("registry reads are bounded", () => {
  shortHttpTimeout("0.3");

  test("a manifest fetched by tag is cut at 4 MiB", async () => {
    const endless = endlessBody();
    const registry = await serve((req, res) => {
      if (req.url === "/v2/") res.writeHead(200).end("{}");
      else endless.handler(req, res);
    });
    try {
      await assert.rejects(
        pullArtifact(`${registry.url.replace("http://", "")}/app:v1`, FAST),
        (err) =>
          isStrataError(err, "SIZE_MISMATCH") && /more than the expected 4194304 bytes/.test(err.message),
      );
      assert.ok(endless.sent() < 20 << 20, `server sent ${endless.sent()} bytes`);
    } finally {
      await registry.close();
    }
  });

  test("a silent registry is a REGISTRY error within seconds", async () => {
    const registry = await serve(() => {});
    try {
      const started = Date.now();
      await assert.rejects(
        pullArtifact(`${registry.url.replace("http://", "")}/app:v1`, FAST),
        (err) => isStrataError(err, "REGISTRY") && /no answer within 0.3 s/.test(err.message),
      );
      assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    } finally {
      await registry.close();
    }
  });
});

describe("credentials never reach a token realm over plain http", () => {
  test("a realm on another loopback port gets no Authorization, and the user a clear AUTH error", async () => {
    const realmSeen: Seen[] = [];
    const realm = await serve((req, res) => {
      realmSeen.push({
        method: req.method ?? "",
        path: req.url ?? "",
        authorization: req.headers.authorization,
      });
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token: "t" }));
    });
    const registry = await serve((req, res) => {
      if (req.headers.authorization === "Bearer t") res.writeHead(200).end("{}");
      else
        res.writeHead(401, { "www-authenticate": `Bearer realm="${realm.url}/token",service="fake"` }).end();
    });
    try {
      await assert.rejects(
        pullArtifact(`${registry.url.replace("http://", "")}/app:v1`, { ...FAST, credentials: CREDS }),
        (err) => isStrataError(err, "AUTH") && /credentials would go over plain http/.test(err.message),
      );
      assert.deepEqual(
        realmSeen.filter((r) => r.authorization !== undefined),
        [],
      );
    } finally {
      await registry.close();
      await realm.close();
    }
  });

  test("an https realm served by a plain http server is a clear AUTH error, not a crash", async () => {
    const realm = await serve((_req, res) => res.writeHead(200).end("{}"));
    const https = realm.url.replace("http://", "https://");
    const registry = await serve((_req, res) =>
      res.writeHead(401, { "www-authenticate": `Bearer realm="${https}/token",service="fake"` }).end(),
    );
    try {
      await assert.rejects(
        pullArtifact(`${registry.url.replace("http://", "")}/app:v1`, { ...FAST, credentials: CREDS }),
        (err) => isStrataError(err, "AUTH") && /token service .* failed/.test(err.message),
      );
    } finally {
      await registry.close();
      await realm.close();
    }
  });

  test("an https registry never sends anyone to a plain http realm, with or without credentials", async () => {
    for (const credentials of [CREDS, undefined]) {
      let fetched = 0;
      const auth = new Authenticator(
        "registry.example",
        credentials,
        async () => {
          fetched++;
          return new Response("{}");
        },
        () => "https://registry.example",
      );
      await assert.rejects(
        auth.answer('Bearer realm="http://auth.example/token"', ["repository:a:pull"]),
        (err) => isStrataError(err, "AUTH") && /plain http after an https registry/.test(err.message),
      );
      assert.equal(fetched, 0);
    }
  });

  test("the registry's own loopback origin may serve tokens over http with credentials", async () => {
    let fetchedWith: string | undefined;
    const auth = new Authenticator(
      "127.0.0.1:5000",
      CREDS,
      async (_url, headers) => {
        fetchedWith = headers.authorization;
        return new Response(JSON.stringify({ token: "t" }));
      },
      () => "http://127.0.0.1:5000",
    );
    await auth.answer('Bearer realm="http://127.0.0.1:5000/token"', ["repository:a:pull"]);
    assert.match(fetchedWith ?? "", /^Basic /);
    assert.equal(auth.headerFor(["repository:a:pull"]), "Bearer t");
  });
});

describe("a registry host name that does not resolve", () => {
  test("push, pull and sbom fail at the first answer with one line naming the host and a hint (the CLI)", async () => {
    const layout = join(await mkdtemp(join(tmpdir(), "strata-dns-")), "app");
    await writeLayout(layout, imageArtifact((await freshImage()).image), { tag: "latest" });
    for (const args of [
      ["push", `oci:${layout}`, "nosuch.invalid/app:1"],
      ["pull", "nosuch.invalid/app:1", "-o", "/tmp/strata-never-written"],
      ["sbom", "docker://nosuch.invalid/app:1"],
    ]) {
      const r = await runStrata(args);
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split("\n");
      assert.match(
        lines[0],
        /^strata: error: nosuch\.invalid: the host name nosuch\.invalid does not resolve \((ENOTFOUND|EAI_AGAIN)\)$/,
      );
      assert.match(lines[1], /Docker Hub is docker\.io/);
      assert.equal(lines.length, 2, r.stderr);
    }
  });

  test("ENOTFOUND is not asked again; EAI_AGAIN (no answer from the resolver) is asked once more", async () => {
    const policy = { attempts: 5, baseDelayMs: 1, maxDelayMs: 1 };
    for (const [code, expected] of [
      ["ENOTFOUND", 1],
      ["EAI_AGAIN", 2],
    ] as const) {
      let attempts = 0;
      await assert.rejects(
        withRetry("nosuch.invalid", "connect", policy, async () => {
          attempts++;
          throw new UnresolvedHost("nosuch.invalid", "nosuch.invalid", code);
        }),
        (err) => isStrataError(err, "REGISTRY") && err.message.includes(`does not resolve (${code})`),
      );
      assert.equal(attempts, expected, code);
    }
  });
});
