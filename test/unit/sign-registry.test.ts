import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { imageDescriptor } from "../../src/oci/image.js";
import { writeLocation } from "../../src/oci/locations/locations.js";
import { runStrata } from "../helpers/cli.js";
import {
  cliSign,
  cliVerify,
  pushedImage,
  putManifest,
  registryBlob,
  signatureManifest,
  signingFixture,
} from "../helpers/signing.js";
import { freshImage } from "../helpers/synthetic-image.js";

const run = promisify(execFile);

const verifyJson = cliVerify;

describe("cosign signatures in a real docker-registry 2.8", { timeout: 180_000 }, () => {
  const f = signingFixture();
  const sign = (ref: string, key = f.keyA.privateFile) => cliSign(ref, key);

  test("the signature is cosign's: a simple-signing layer under sha256-<hex>.sig that openssl verifies over the payload, which names the digest", async () => {
    const { ref, digest } = await pushedImage(f.registry, "team/app", "1");
    await sign(ref);
    const sig = await signatureManifest(f.registry, "team/app", digest);
    assert.ok(sig, "the .sig tag exists");
    assert.equal(sig.json.layers.length, 1);
    const [layer] = sig.json.layers;
    assert.equal(layer.mediaType, "application/vnd.dev.cosign.simplesigning.v1+json");
    const payload = await registryBlob(f.registry, "team/app", layer.digest);
    const doc = JSON.parse(payload.toString());
    assert.equal(doc.critical.image["docker-manifest-digest"], digest);
    assert.equal(doc.critical.identity["docker-reference"], `${f.registry.host}/team/app`);
    assert.equal(doc.critical.type, "cosign container image signature");
    const [payloadFile, sigFile] = [join(f.dir, "payload.json"), join(f.dir, "payload.sig")];
    await writeFile(payloadFile, payload);
    await writeFile(sigFile, Buffer.from(layer.annotations!["dev.cosignproject.cosign/signature"], "base64"));
    const ok = await run("openssl", [
      "dgst",
      "-sha256",
      "-verify",
      f.keyA.publicFile,
      "-signature",
      sigFile,
      payloadFile,
    ]);
    assert.match(ok.stdout, /Verified OK/);
    await assert.rejects(
      run("openssl", ["dgst", "-sha256", "-verify", f.keyB.publicFile, "-signature", sigFile, payloadFile]),
      "another key's public half does not verify it",
    );
  });

  test("strata verify passes with the signing key and exits 1 with another key", async () => {
    const { ref, digest } = await pushedImage(f.registry, "team/verify", "1");
    await sign(ref);
    const good = await verifyJson(ref, f.keyA.publicFile);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.report.digest, digest);
    assert.equal(good.report.verified, true);
    const other = await verifyJson(ref, f.keyB.publicFile);
    assert.equal(other.code, 1);
    assert.equal(other.report.verified, false);
    assert.equal(other.report.keys[0].reason, "no signature is this key's");
  });

  test("a tag moved to an unsigned image fails verification", async () => {
    const { ref } = await pushedImage(f.registry, "team/moved", "1");
    await sign(ref);
    await pushedImage(f.registry, "team/moved", "1");
    const moved = await verifyJson(ref, f.keyA.publicFile);
    assert.equal(moved.code, 1);
    assert.equal(moved.report.keys[0].reason, "the image has no signatures");
  });

  test("a signature copied from another image's digest fails verification", async () => {
    const a = await pushedImage(f.registry, "team/copy", "a");
    const b = await pushedImage(f.registry, "team/copy", "b");
    await sign(a.ref);
    const copied = (await signatureManifest(f.registry, "team/copy", a.digest))!;
    await putManifest(f.registry, "team/copy", `sha256-${b.digest.slice(7)}.sig`, copied.bytes);
    const res = await verifyJson(b.ref, f.keyA.publicFile);
    assert.equal(res.code, 1);
    assert.match(res.report.keys[0].reason, /names another digest/);
  });

  test("a second key's signature is added beside the first; signing again with the same key adds nothing", async () => {
    const { ref, digest } = await pushedImage(f.registry, "team/two", "1");
    await sign(ref, f.keyA.privateFile);
    await sign(ref, f.keyB.privateFile);
    const beforeAgain = (await signatureManifest(f.registry, "team/two", digest))!.json.layers.length;
    await sign(ref, f.keyA.privateFile);
    assert.equal(beforeAgain, 2);
    // ECDSA signatures are randomised: signing again makes a new signature of the same payload.
    assert.equal((await signatureManifest(f.registry, "team/two", digest))!.json.layers.length, 3);
    for (const pub of [f.keyA.publicFile, f.keyB.publicFile])
      assert.equal((await verifyJson(ref, pub)).code, 0);
  });

  test("a signature manifest whose annotation is not a signature verifies nothing and breaks nothing", async () => {
    const { ref, digest } = await pushedImage(f.registry, "team/junk", "1");
    await sign(ref);
    const sig = (await signatureManifest(f.registry, "team/junk", digest))!;
    sig.json.layers[0].annotations!["dev.cosignproject.cosign/signature"] = "not base64 at all!";
    await putManifest(
      f.registry,
      "team/junk",
      `sha256-${digest.slice(7)}.sig`,
      Buffer.from(JSON.stringify(sig.json)),
    );
    const res = await verifyJson(ref, f.keyA.publicFile);
    assert.equal(res.code, 1, res.stderr);
    assert.equal(res.report.verified, false);
  });

  test("in an OCI layout the signature is a referrer of the image, and verifies there", async () => {
    const { image } = await freshImage(1);
    const layout = join(f.dir, "layout");
    await writeLocation(
      { transport: "oci", path: layout },
      { kind: "image", image },
      { refName: "latest", archiveName: "x:1" },
    );
    await sign(`oci:${layout}`);
    const good = await verifyJson(`oci:${layout}`, f.keyA.publicFile);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.report.digest, imageDescriptor(image).digest);
    assert.equal((await verifyJson(`oci:${layout}`, f.keyB.publicFile)).code, 1);
    // The image's own entry is still what the layout's tag names.
    assert.equal((await runStrata(["verify", `oci:${layout}:latest`, "--key", f.keyA.publicFile])).code, 0);
  });

  test("an image nobody signed: verify exits 1 and says so; unknown keys are usage errors", async () => {
    const { ref } = await pushedImage(f.registry, "team/none", "1");
    const res = await runStrata(["verify", ref, "--key", f.keyA.publicFile]);
    assert.equal(res.code, 1);
    assert.match(res.stdout, /NOT VERIFIED/);
    assert.match(res.stdout, /the image has no signatures/);
    const missing = await runStrata(["verify", ref, "--key", join(f.dir, "absent.pub")]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^strata: error: .*absent\.pub: no such key file/m);
  });
});
