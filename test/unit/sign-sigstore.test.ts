import assert from "node:assert/strict";
import { createHash, createPublicKey } from "node:crypto";
import { readFile } from "node:fs/promises";
import { describe, test } from "node:test";
import { bundleFromJSON } from "@sigstore/bundle";
import { toSignedEntity, toTrustMaterial, Verifier } from "@sigstore/verify";
import type { RegistryServer } from "../helpers/registry.js";
import {
  cliSign,
  pushedImage,
  putManifest,
  registryBlob,
  signatureManifest,
  signingFixture,
} from "../helpers/signing.js";

/**
 * sigstore's own JavaScript verifier (@sigstore/verify 2.x) as the judge of strata's signatures,
 * configured as cosign's key-based verification is: one trusted public key, no transparency log,
 * no certificate authority, no timestamp authority. Each cosign signature layer becomes a sigstore
 * bundle with a public-key hint and a message signature over the payload; the library checks the
 * signature, and, as cosign does after it, the payload must name the digest the tag resolves to now.
 */

const TRUSTED_ROOT = {
  mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
  tlogs: [],
  ctlogs: [],
  certificateAuthorities: [],
  timestampAuthorities: [],
};

async function trustedKey(publicFile: string) {
  const publicKey = createPublicKey(await readFile(publicFile, "utf8"));
  // The library's key finder for a bundle's public-key hint: one key, valid at any time.
  const keys = (hint: string) => {
    if (hint !== "strata") throw new Error(`no key for hint ${hint}`);
    return { publicKey, validFor: () => true };
  };
  return new Verifier(toTrustMaterial(TRUSTED_ROOT as never, keys), {
    tlogThreshold: 0,
    ctlogThreshold: 0,
    tsaThreshold: 0,
  });
}

function bundleOf(payload: Buffer, signature: string) {
  return bundleFromJSON({
    mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
    verificationMaterial: {
      publicKey: { hint: "strata" },
      tlogEntries: [],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    messageSignature: {
      messageDigest: { algorithm: "SHA2_256", digest: createHash("sha256").update(payload).digest("base64") },
      signature,
    },
  });
}

/** What cosign verify would say of `repo:tag` with this verifier: accepted, or why not. */
async function sigstoreVerdict(registry: RegistryServer, repo: string, tag: string, verifier: Verifier) {
  const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/${tag}`, {
    method: "HEAD",
    headers: { accept: "application/vnd.oci.image.manifest.v1+json" },
  });
  const digest = res.headers.get("docker-content-digest")!;
  const sig = await signatureManifest(registry, repo, digest);
  if (sig === undefined) return "no signatures";
  const reasons: string[] = [];
  for (const layer of sig.json.layers) {
    const payload = await registryBlob(registry, repo, layer.digest);
    const signature = layer.annotations!["dev.cosignproject.cosign/signature"];
    try {
      verifier.verify(toSignedEntity(bundleOf(payload, signature), payload));
    } catch (err) {
      reasons.push(String((err as Error).message));
      continue;
    }
    const claimed = JSON.parse(payload.toString()).critical.image["docker-manifest-digest"];
    if (claimed === digest) return "accepted";
    reasons.push(`payload names ${claimed}`);
  }
  return reasons.join("; ");
}

describe("@sigstore/verify judges strata's signatures in a real docker-registry", {
  timeout: 180_000,
}, () => {
  const f = signingFixture();
  const sign = (ref: string, key = f.keyA.privateFile) => cliSign(ref, key);

  test("accepts strata's signature of a pushed image", async () => {
    const { ref } = await pushedImage(f.registry, "app/signed", "1");
    await sign(ref);
    assert.equal(
      await sigstoreVerdict(f.registry, "app/signed", "1", await trustedKey(f.keyA.publicFile)),
      "accepted",
    );
  });

  test("refuses once the tag is moved to an unsigned image", async () => {
    const { ref } = await pushedImage(f.registry, "app/moved", "1");
    await sign(ref);
    const verifier = await trustedKey(f.keyA.publicFile);
    assert.equal(await sigstoreVerdict(f.registry, "app/moved", "1", verifier), "accepted");
    await pushedImage(f.registry, "app/moved", "1");
    assert.equal(await sigstoreVerdict(f.registry, "app/moved", "1", verifier), "no signatures");
  });

  test("refuses a signature made with another key", async () => {
    const { ref } = await pushedImage(f.registry, "app/other", "1");
    await sign(ref, f.keyB.privateFile);
    const verdict = await sigstoreVerdict(f.registry, "app/other", "1", await trustedKey(f.keyA.publicFile));
    assert.match(verdict, /signature verification failed/);
  });

  test("refuses a signature copied from another digest", async () => {
    const a = await pushedImage(f.registry, "app/copy", "a");
    const b = await pushedImage(f.registry, "app/copy", "b");
    await sign(a.ref);
    const copied = (await signatureManifest(f.registry, "app/copy", a.digest))!;
    await putManifest(f.registry, "app/copy", `sha256-${b.digest.slice(7)}.sig`, copied.bytes);
    const verdict = await sigstoreVerdict(f.registry, "app/copy", "b", await trustedKey(f.keyA.publicFile));
    assert.equal(verdict, `payload names ${a.digest}`);
  });
});
