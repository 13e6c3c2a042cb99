import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { parsePodList } from "../../src/admission/pods.js";
import { readFeed } from "../../src/advisories/feed.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { runStrata } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import { selfSignedCertificate } from "../helpers/registry.js";

const FIXTURES = new URL("../fixtures/advisories/", import.meta.url).pathname;

/** A pod as `kubectl get pods -A -o json` lists it, with the status a containerd node reports. */
function pod(name: string, specImage: string, imageId: string) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "shop", uid: `uid-${name}` },
    spec: { containers: [{ name: "web", image: specImage }] },
    status: {
      phase: "Running",
      containerStatuses: [
        { name: "web", image: specImage, imageID: imageId, ready: true, restartCount: 0, started: true },
      ],
    },
  };
}

describe("strata audit and admission manifests", () => {
  let dir: string;
  let indexPath: string;
  let oldDigest: string;
  let newDigest: string;

  before(async () => {
    dir = await tempDir("audit");
    indexPath = join(dir, "index.db");
    const index = await FleetIndex.open(indexPath);
    const base = { name: "base-files", version: "12.4+deb12u11" };
    const old = await strataImage([
      base,
      { name: "libssl3", version: "3.0.15-1~deb12u1", source: "openssl" },
    ]);
    const fixed = await strataImage([
      base,
      { name: "libssl3", version: "3.0.17-1~deb12u3", source: "openssl" },
    ]);
    for (const image of [old.image, fixed.image]) {
      const topDigest = imageDescriptor(image).digest;
      await index.add(image, "test", [
        { registry: "registry.example", repository: "shop/web", tag: "", topDigest },
      ]);
    }
    [oldDigest, newDigest] = [imageDescriptor(old.image).digest, imageDescriptor(fixed.image).digest];
    const feed = await readFeed(join(FIXTURES, "tracker.json"));
    await index.advisories.store(
      { location: "tracker.json", kind: "tracker", date: feed.date },
      feed.advisories,
    );
    await index.close();
    await writeFile(join(dir, "policy.yaml"), "deny:\n  fixable: { severity: medium }\n");
  });

  it("judges a running pod by the digest its node reports, named as its spec names it", () => {
    const [p] = parsePodList({
      apiVersion: "v1",
      kind: "List",
      items: [
        pod(
          "web-1",
          "registry.example/shop/web:1",
          `registry.example/shop/web@${"sha256:" + "a".repeat(64)}`,
        ),
      ],
    });
    assert.deepEqual(p.images, [
      {
        container: "containers[0]",
        image: "registry.example/shop/web:1",
        running: `registry.example/shop/web@sha256:${"a".repeat(64)}`,
      },
    ]);
    const [docker] = parsePodList({
      items: [pod("w", "nginx:1", `docker-pullable://nginx@sha256:${"b".repeat(64)}`)],
    });
    assert.equal(docker.images[0].running, `docker.io/library/nginx@sha256:${"b".repeat(64)}`);
    const [crio] = parsePodList({ items: [pod("w", "nginx:1", `sha256:${"c".repeat(64)}`)] });
    assert.equal(crio.images[0].running, undefined, "a config digest alone: the spec's image is judged");
    assert.throws(() => parsePodList({ kind: "Pod" }), /no items/);
  });

  it("says which running pods the policy rejects today, and exits 1", async () => {
    const pods = {
      apiVersion: "v1",
      kind: "List",
      items: [
        pod("web-old", "registry.example/shop/web:1", `registry.example/shop/web@${oldDigest}`),
        pod("web-new", "registry.example/shop/web:2", `registry.example/shop/web@${newDigest}`),
      ],
    };
    await writeFile(join(dir, "pods.json"), JSON.stringify(pods));
    const r = await runStrata([
      "audit",
      "--pods",
      join(dir, "pods.json"),
      "--policy",
      join(dir, "policy.yaml"),
      "--index",
      indexPath,
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^shop\/web-old: rejected$/m);
    assert.match(r.stdout, /CVE-2025-9230 \(high\) in libssl3 3\.0\.15-1~deb12u1/);
    assert.doesNotMatch(r.stdout, /web-new/);
    assert.match(r.stdout, /1 of 2 running pods would be rejected today/);
  });

  it("with --vex, a CVE a team's statement covers no longer rejects the pod", async () => {
    const pods = {
      items: [pod("web-old", "registry.example/shop/web:1", `registry.example/shop/web@${oldDigest}`)],
    };
    await writeFile(join(dir, "old-pods.json"), JSON.stringify(pods));
    const audit = ["audit", "--pods", join(dir, "old-pods.json"), "--policy", join(dir, "policy.yaml")];
    const before = await runStrata([...audit, "--index", indexPath]);
    assert.equal(before.code, 1, before.stderr);
    const ids = [...new Set(before.stdout.match(/CVE-\d{4}-\d+/g))];
    const statements = ids.map((id) => ({
      vulnerability: { name: id },
      products: [{ "@id": `pkg:oci/web@${oldDigest}`, subcomponents: [{ "@id": "pkg:deb/debian/libssl3" }] }],
      status: "not_affected",
      justification: "vulnerable_code_not_in_execute_path",
    }));
    const vex = { "@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://team.example/vex/audit" };
    const document = { ...vex, author: "team", timestamp: "2026-01-01T00:00:00Z", version: 1, statements };
    await writeFile(join(dir, "team.vex.json"), JSON.stringify(document));
    const r = await runStrata([...audit, "--vex", join(dir, "team.vex.json"), "--index", indexPath]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /0 of 1 running pods would be rejected today/);
  });

  it("rejects a running pod its spec names by tag under require.digest, as the webhook denies it", async () => {
    const pods = {
      items: [
        pod("by-tag", "registry.example/shop/web:2", `registry.example/shop/web@${newDigest}`),
        pod("by-digest", `registry.example/shop/web@${newDigest}`, `registry.example/shop/web@${newDigest}`),
      ],
    };
    await writeFile(join(dir, "pinned-pods.json"), JSON.stringify(pods));
    await writeFile(join(dir, "pinned.yaml"), "require: { digest: true }\n");
    const r = await runStrata([
      ...["audit", "--pods", join(dir, "pinned-pods.json"), "--policy", join(dir, "pinned.yaml")],
      ...["--index", indexPath],
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^shop\/by-tag: rejected$/m);
    assert.match(r.stdout, /registry\.example\/shop\/web:2 is not pinned by digest/);
    assert.doesNotMatch(r.stdout, /by-digest/);
  });

  it("prints a webhook configuration, Service and Deployment with the CA bundle filled in", async () => {
    const cert = await selfSignedCertificate(dir, "ca");
    const r = await runStrata([
      "admission",
      "manifests",
      "--ca-file",
      cert.certFile,
      "--image",
      "registry.example/strata:0.1.0",
      "--allow-registry",
      "registry.example",
      "--allow-registry",
      "ghcr.io",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS());
    assert.deepEqual(
      docs.map((d) => d.kind),
      ["ValidatingWebhookConfiguration", "Service", "Deployment"],
    );
    const hook = docs[0].webhooks[0];
    assert.equal(
      Buffer.from(hook.clientConfig.caBundle, "base64").toString(),
      await readFile(cert.certFile, "utf8"),
    );
    assert.equal(hook.clientConfig.service.path, "/validate");
    assert.deepEqual(hook.admissionReviewVersions, ["v1"]);
    assert.equal(hook.failurePolicy, "Fail");
    const args: string[] = docs[2].spec.template.spec.containers[0].args;
    assert.ok(args.includes("--timeout=8"));
    assert.deepEqual(
      args.filter((a) => a.startsWith("--allow-registry=")),
      ["--allow-registry=registry.example", "--allow-registry=ghcr.io"],
    );
  });
});
