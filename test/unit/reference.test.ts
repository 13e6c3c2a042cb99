import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  formatReference,
  isLoopbackHost,
  manifestSelector,
  parseLocalName,
  parseReference,
  registryApiHost,
} from "../../src/oci/reference.js";
import { authFileCandidates, savedCredentials } from "../../src/oci/registry/auth.js";
import { isStrataError } from "../../src/util/errors.js";

const DIGEST = `sha256:${"ab".repeat(32)}`;

describe("image references", () => {
  test("a registry with a port, a nested repository and a tag", () => {
    assert.deepEqual(parseReference("127.0.0.1:5000/team/app:1.0"), {
      registry: "127.0.0.1:5000",
      repository: "team/app",
      tag: "1.0",
    });
  });

  test("a digest names the artifact; a tag beside it is kept", () => {
    assert.deepEqual(parseReference(`host.example/app@${DIGEST}`), {
      registry: "host.example",
      repository: "app",
      digest: DIGEST,
    });
    const both = parseReference(`localhost:5000/app:v1@${DIGEST}`);
    assert.equal(both.tag, "v1");
    assert.equal(manifestSelector(both), DIGEST);
  });

  test("no tag means latest; localhost and [::1] are registries", () => {
    assert.deepEqual(parseReference("localhost/app"), {
      registry: "localhost",
      repository: "app",
      tag: "latest",
    });
    assert.deepEqual(parseReference("[::1]:5000/app:v1"), {
      registry: "[::1]:5000",
      repository: "app",
      tag: "v1",
    });
  });

  test("Docker Hub defaults: docker.io, library/ for one-part names, registry-1.docker.io for the API", () => {
    assert.equal(formatReference(parseReference("debian")), "docker.io/library/debian:latest");
    assert.equal(formatReference(parseReference("debian:bookworm")), "docker.io/library/debian:bookworm");
    assert.equal(formatReference(parseReference("someone/app:1")), "docker.io/someone/app:1");
    assert.equal(
      formatReference(parseReference("index.docker.io/library/debian")),
      "docker.io/library/debian:latest",
    );
    assert.equal(registryApiHost("docker.io"), "registry-1.docker.io");
    assert.equal(registryApiHost("127.0.0.1:5000"), "127.0.0.1:5000");
  });

  test("formatting a parsed reference gives it back", () => {
    for (const text of [
      "127.0.0.1:5000/team/app:1.0",
      `quay.io/org/app@${DIGEST}`,
      "localhost/a_b.c-d/e__f:x.y-z",
    ]) {
      assert.equal(formatReference(parseReference(text)), text);
    }
  });

  test("malformed references are USAGE errors that say what is wrong", () => {
    const cases: [string, RegExp][] = [
      ["", /empty/],
      ["Team/App", /lowercase/],
      ["host.example/app:", /not a valid tag/],
      ["host.example/app@sha256:abc", /not a sha256 digest/],
      ["host.example//app", /repository is empty/],
      ["host.example/-app", /may hold only/],
      [`host.example/app:${"t".repeat(129)}`, /not a valid tag/],
    ];
    for (const [text, why] of cases) {
      assert.throws(
        () => parseReference(text),
        (err) => isStrataError(err, "USAGE") && why.test(err.message) && err.hint !== undefined,
        text,
      );
    }
  });

  test("loopback hosts are 127.0.0.0/8, localhost and [::1], with or without a port", () => {
    for (const host of ["127.0.0.1:5000", "127.1.2.3", "localhost", "localhost:80", "[::1]:5000"]) {
      assert.ok(isLoopbackHost(host), host);
    }
    for (const host of [
      "128.0.0.1",
      "registry.example",
      "10.0.0.1:5000",
      "[::2]:5000",
      "localhost.example",
    ]) {
      assert.ok(!isLoopbackHost(host), host);
    }
  });
});

describe("saved registry credentials", () => {
  test("auth files are searched in podman's order, REGISTRY_AUTH_FILE alone when set", () => {
    assert.deepEqual(
      authFileCandidates({ REGISTRY_AUTH_FILE: "/x/auth.json", XDG_RUNTIME_DIR: "/run/user/0" }),
      ["/x/auth.json"],
    );
    const files = authFileCandidates({
      XDG_RUNTIME_DIR: "/run/user/0",
      XDG_CONFIG_HOME: "/cfg",
      DOCKER_CONFIG: "/dk",
    });
    assert.deepEqual(files, [
      "/run/user/0/containers/auth.json",
      "/cfg/containers/auth.json",
      "/dk/config.json",
    ]);
    // Root without a login session: podman login writes /run/containers/0/auth.json.
    const uid = process.getuid?.() ?? 0;
    assert.equal(authFileCandidates({ XDG_CONFIG_HOME: "/cfg" })[0], `/run/containers/${uid}/auth.json`);
  });

  test("an auths entry matches its registry however the key is written; the first file that has one wins", async () => {
    const dir = await mkdtemp(join(tmpdir(), "strata-auth-"));
    try {
      const b64 = (s: string) => Buffer.from(s).toString("base64");
      const podmanFile = join(dir, "auth.json");
      const dockerFile = join(dir, "config.json");
      await writeFile(
        podmanFile,
        JSON.stringify({ auths: { "127.0.0.1:5000": { auth: b64("pod:man:colon") } } }),
      );
      await writeFile(
        dockerFile,
        JSON.stringify({
          auths: {
            "https://index.docker.io/v1/": { auth: b64("hub:secret") },
            "http://127.0.0.1:5000": { auth: b64("docker:late") },
          },
        }),
      );
      const files = [join(dir, "missing.json"), podmanFile, dockerFile];
      assert.deepEqual(await savedCredentials("127.0.0.1:5000", files), {
        username: "pod",
        password: "man:colon",
      });
      assert.deepEqual(await savedCredentials("docker.io", files), { username: "hub", password: "secret" });
      assert.equal(await savedCredentials("quay.io", files), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("--tag for local image locations", () => {
  test("a bare tag names no image; NAME:TAG and HOST/PATH:TAG name it too", () => {
    assert.deepEqual(parseLocalName("v1"), { tag: "v1" });
    assert.deepEqual(parseLocalName("myapp:v1"), { name: "myapp", tag: "v1" });
    assert.deepEqual(parseLocalName("127.0.0.1:5000/team/app:1.0"), {
      name: "127.0.0.1:5000/team/app",
      tag: "1.0",
    });
    assert.deepEqual(parseLocalName("team/app"), { name: "team/app", tag: "latest" });
  });

  test("a tag with a digest, an uppercase name or a bad tag is a usage error", () => {
    for (const text of ["app:v1@sha256:" + "a".repeat(64), "MyApp:v1", "app:bad tag", "-v1"]) {
      assert.throws(
        () => parseLocalName(text),
        (err) => isStrataError(err, "USAGE"),
        text,
      );
    }
  });
});
