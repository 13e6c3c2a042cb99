import assert from "node:assert/strict";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { auditPods } from "../../src/admission/audit.js";
import { ImageDecider } from "../../src/admission/decider.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { writeLocation } from "../../src/oci/locations/locations.js";
import { parseLocationName } from "../../src/oci/locations/name.js";
import { loadPolicy, type Policy } from "../../src/policy/policy.js";
import { loadPrivateKey } from "../../src/sign/keys.js";
import { signImage } from "../../src/sign/sign-image.js";
import { isStrataError } from "../../src/util/errors.js";
import { runStrata } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";
import { keyPair, putManifest, SIGNING_PASSPHRASE, signatureManifest } from "../helpers/signing.js";
import { postReview, reviewOf, serveTestWebhook } from "../helpers/webhook.js";

describe("admission with require: signed-by", { timeout: 180_000 }, () => {
  let dir: string;
  let registry: RegistryServer;
  let index: FleetIndex;
  let policy: Policy;
  let trusted: Awaited<ReturnType<typeof loadPrivateKey>>;
  let stranger: Awaited<ReturnType<typeof loadPrivateKey>>;
  let url: string;
  let ca: string;
  const closers: (() => unknown)[] = [];

  /** A fresh strata image pushed as `repo:tag`; its digest-pinned name. */
  async function pushed(repo: string, tag: string): Promise<{ ref: string; pinned: string; digest: string }> {
    const { image } = await strataImage([{ name: "base-files", version: "12.4+deb12u11" }], {
      label: `${repo}:${tag}`,
    });
    const ref = `${registry.host}/${repo}:${tag}`;
    await writeLocation(
      parseLocationName(`docker://${ref}`)!,
      { kind: "image", image },
      { refName: tag, archiveName: ref },
    );
    const digest = imageDescriptor(image).digest;
    return { ref, pinned: `${registry.host}/${repo}@${digest}`, digest };
  }

  async function sign(ref: string, key = trusted) {
    await signImage(parseLocationName(`docker://${ref}`)!, key);
  }

  async function admit(image: string) {
    const response = (await postReview(url, ca, await reviewOf("pod-review.json", image))).body.response!;
    return { allowed: response.allowed, message: response.status?.message };
  }

  before(async () => {
    dir = await tempDir("admission-signatures");
    registry = await startRegistry();
    closers.push(() => registry.close());
    index = await FleetIndex.open(join(dir, "index.db"));
    closers.push(() => index.close());
    const keys = await keyPair(join(dir, "keys"), "trusted");
    const other = await keyPair(join(dir, "keys"), "stranger");
    trusted = await loadPrivateKey(keys.privateFile, async () => SIGNING_PASSPHRASE);
    stranger = await loadPrivateKey(other.privateFile, async () => SIGNING_PASSPHRASE);
    await writeFile(join(dir, "policy.yaml"), "require:\n  signed-by: [keys/trusted.pub]\n");
    policy = await loadPolicy(join(dir, "policy.yaml"));
    const served = await serveTestWebhook(new ImageDecider({ policy, index }), dir, "webhook", {
      deadlineMs: 5000,
    });
    ca = served.ca;
    closers.push(() => served.server.close());
    url = served.url;
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
    await rm(dir, { recursive: true, force: true });
  });

  it("allows an image signed by the policy's key", async () => {
    const { ref } = await pushed("web/signed", "1");
    await sign(ref);
    assert.deepEqual(await admit(ref), { allowed: true, message: undefined });
  });

  it("denies an unsigned image, saying why", async () => {
    const { ref } = await pushed("web/unsigned", "1");
    const r = await admit(ref);
    assert.equal(r.allowed, false);
    assert.match(r.message!, /is not signed by a key of signed-by: the image has no signatures/);
  });

  it("denies an image signed by another key", async () => {
    const { ref } = await pushed("web/stranger", "1");
    await sign(ref, stranger);
    const r = await admit(ref);
    assert.equal(r.allowed, false);
    assert.match(r.message!, /no signature is this key's/);
  });

  it("denies an image whose signature was copied from another digest", async () => {
    const a = await pushed("web/copy", "a");
    const b = await pushed("web/copy", "b");
    await sign(a.ref);
    const copied = (await signatureManifest(registry, "web/copy", a.digest))!;
    await putManifest(registry, "web/copy", `sha256-${b.digest.slice(7)}.sig`, copied.bytes);
    const r = await admit(b.ref);
    assert.equal(r.allowed, false);
    assert.match(r.message!, /names another digest/);
  });

  it("verifies a signed digest once: later decisions under other names need no registry", async () => {
    const { ref, pinned, digest } = await pushed("web/cached", "1");
    await sign(ref);
    const decider = new ImageDecider({ policy, index });
    assert.equal((await decider.decide(pinned))[0].allowed, true);
    await registry.stop();
    try {
      // Another name for the same digest: the decision cache misses, the facts and verdict caches hit.
      const again = await decider.decide(`${registry.host}/web/cached:1@${digest}`);
      assert.equal(again[0].allowed, true);
    } finally {
      await registry.start();
    }
  });

  it("never contacts a registry outside --allow-registry for its signatures", async () => {
    const { ref } = await pushed("web/elsewhere", "1");
    await sign(ref);
    const before = registry
      .log()
      .split("\n")
      .filter((l) => l.includes("web/elsewhere")).length;
    assert.ok(before > 0, "the registry logs each request with its repository");
    const decider = new ImageDecider({ policy, index, scope: { allow: ["registry.example"] } });
    await assert.rejects(decider.decide(ref), /is not allowed/);
    const afterLines = registry
      .log()
      .split("\n")
      .filter((l) => l.includes("web/elsewhere")).length;
    assert.equal(afterLines, before);
  });

  it("strata check honours signed-by the same way", async () => {
    const signed = await pushed("web/check", "signed");
    const unsigned = await pushed("web/check", "unsigned");
    await sign(signed.ref);
    const policyFile = join(dir, "policy.yaml");
    const ok = await runStrata(["check", signed.ref, "--policy", policyFile, "--release", "bookworm"]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const denied = await runStrata(["check", unsigned.ref, "--policy", policyFile, "--release", "bookworm"]);
    assert.equal(denied.code, 1, denied.stderr);
    assert.match(
      denied.stdout,
      /denied: .* is not signed by a key of signed-by: the image has no signatures/,
    );
  });

  it("a signed-by key that cannot be read is a policy error at its line", async () => {
    await writeFile(join(dir, "bad.yaml"), "require:\n  signed-by:\n    - keys/absent.pub\n");
    await assert.rejects(
      loadPolicy(join(dir, "bad.yaml")),
      (e) =>
        isStrataError(e, "POLICY_INVALID") &&
        /bad\.yaml:3:7: require\.signed-by\.0: .*absent\.pub: no such key file/.test(e.message),
    );
  });

  it("audit judges running pods by the same signed-by rule", async () => {
    const signed = await pushed("web/audit", "signed");
    const unsigned = await pushed("web/audit", "unsigned");
    await sign(signed.ref);
    const pod = (name: string, image: string) => ({
      namespace: "shop",
      name,
      images: [{ container: "app", image }],
    });
    const audits = await auditPods(new ImageDecider({ policy, index }), [
      pod("good", signed.ref),
      pod("bad", unsigned.ref),
    ]);
    assert.deepEqual(
      audits.map((a) => [a.name, a.rejected]),
      [
        ["good", false],
        ["bad", true],
      ],
    );
    assert.match(audits[1].reasons[0], /is not signed by a key of signed-by: the image has no signatures/);
  });
});
