import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { describe, test } from "node:test";
import { parseEnvelope, signEnvelope, verifiedPayload } from "../../src/sign/dsse.js";
import { storeInLookaside } from "../../src/sign/gpg-signature.js";
import { isStrataError } from "../../src/util/errors.js";
import { tempDir } from "../helpers/debs.js";
import {
  cliSign,
  cliVerify,
  pushedImage,
  putManifest,
  signatureManifest,
  signingFixture,
} from "../helpers/signing.js";

/** What arrives from outside (registries, attestations, names) is checked before it is used. */
describe("hostile signatures and attestations", { timeout: 120_000 }, () => {
  const f = signingFixture();

  const verifyJson = (ref: string) => cliVerify(ref, f.keyA.publicFile);

  test("a signature layer claiming megabytes is not fetched: the image counts as unsigned", async () => {
    const { ref, digest } = await pushedImage(f.registry, "evil/big", "1");
    await cliSign(ref, f.keyA.privateFile);
    const sig = (await signatureManifest(f.registry, "evil/big", digest))!;
    sig.json.layers[0] = { ...sig.json.layers[0], size: 50 << 20 } as never;
    await putManifest(
      f.registry,
      "evil/big",
      `sha256-${digest.slice(7)}.sig`,
      Buffer.from(JSON.stringify(sig.json)),
    );
    const r = await verifyJson(ref);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.report.keys[0].reason, "the image has no signatures");
  });

  test("a signature manifest of more than 64 layers is refused, not read", async () => {
    const { ref, digest } = await pushedImage(f.registry, "evil/many", "1");
    await cliSign(ref, f.keyA.privateFile);
    const sig = (await signatureManifest(f.registry, "evil/many", digest))!;
    sig.json.layers = Array.from({ length: 65 }, () => sig.json.layers[0]);
    await putManifest(
      f.registry,
      "evil/many",
      `sha256-${digest.slice(7)}.sig`,
      Buffer.from(JSON.stringify(sig.json)),
    );
    const r = await verifyJson(ref);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^strata: error: .*65 signatures, more than 64/m);
  });

  test("a lookaside path that would leave the directory is refused", async () => {
    const dir = await tempDir("lookaside");
    await assert.rejects(
      storeInLookaside(
        dir,
        { registry: "r", repository: "../../etc" },
        `sha256:${"a".repeat(64)}`,
        Buffer.from("x"),
      ),
      (e) => isStrataError(e, "UNSAFE_PATH"),
    );
  });

  test("DSSE: garbage is not an envelope; a payload signed under another payloadType does not verify", () => {
    assert.throws(
      () => parseEnvelope(Buffer.from("[1,2]"), "x"),
      (e) => isStrataError(e, "SIGNATURE_INVALID"),
    );
    assert.throws(
      () => parseEnvelope(Buffer.from("{"), "x"),
      (e) => isStrataError(e, "SIGNATURE_INVALID"),
    );
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const envelope = signEnvelope(privateKey, "application/vnd.in-toto+json", Buffer.from("{}"));
    assert.ok(verifiedPayload(envelope, publicKey));
    // The signature covers the type too (PAE): relabelling the payload breaks it.
    assert.equal(verifiedPayload({ ...envelope, payloadType: "text/plain" }, publicKey), undefined);
    const other = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).publicKey;
    assert.equal(verifiedPayload(envelope, other), undefined);
  });
});
