import assert from "node:assert/strict";
import { createPublicKey, verify } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ImageDecider } from "../../src/admission/decider.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { serializeLock } from "../../src/lock/lock.js";
import { type Artifact, artifactDescriptor, imageDescriptor } from "../../src/oci/image.js";
import { writeLocation } from "../../src/oci/locations/locations.js";
import type { ImageLocation } from "../../src/oci/locations/name.js";
import { loadPolicy } from "../../src/policy/policy.js";
import { attachAttestation, attachedAttestations } from "../../src/sign/attestations.js";
import { loadPrivateKey } from "../../src/sign/keys.js";
import { provenanceStatement, SLSA_PROVENANCE_V1, type Statement } from "../../src/sign/provenance.js";
import { signImage, verifyImage } from "../../src/sign/sign-image.js";
import { isStrataError } from "../../src/util/errors.js";
import { sha256Hex } from "../../src/util/hash.js";
import { provenanceErrors, statementErrors } from "../helpers/attestation-schemas.js";
import { runStrata } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { type FakeRepo, startFakeRepo } from "../helpers/fake-repo.js";
import { buildFromRepo, modelPackages } from "../helpers/model-repo.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";
import { keyPair, SIGNING_ENV, SIGNING_PASSPHRASE } from "../helpers/signing.js";
import { freshImage } from "../helpers/synthetic-image.js";

/** The PAE of DSSE, written here from the spec rather than taken from strata. */
function pae(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${body.length} `), body]);
}

describe("signed SLSA provenance of a real strata build", { timeout: 240_000 }, () => {
  let repo: FakeRepo;
  let registry: RegistryServer;
  let dir: string;
  let built: Awaited<ReturnType<typeof buildFromRepo>>;
  let other: Awaited<ReturnType<typeof buildFromRepo>>;
  let keys: { privateFile: string; publicFile: string };
  let strangerKeys: { privateFile: string; publicFile: string };
  const key = () => loadPrivateKey(keys.privateFile, async () => SIGNING_PASSPHRASE);

  before(async () => {
    repo = await startFakeRepo({ packages: await modelPackages() });
    registry = await startRegistry();
    dir = await tempDir("provenance");
    for (const sub of ["a", "b"]) await mkdir(join(dir, sub));
    built = await buildFromRepo(repo, join(dir, "a"), join(dir, "cache"));
    other = await buildFromRepo(repo, join(dir, "b"), join(dir, "cache"), { packages: ["libbar"] });
    keys = await keyPair(join(dir, "keys"), "release");
    strangerKeys = await keyPair(join(dir, "keys"), "stranger");
  });
  after(async () => {
    await repo.close();
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function layout(name: string, artifact: Artifact): Promise<ImageLocation> {
    const location: ImageLocation = { transport: "oci", path: join(dir, name) };
    await writeLocation(location, artifact, { refName: "latest", archiveName: "x:1" });
    return location;
  }

  async function attachedStatement(
    location: ImageLocation,
    artifact: Artifact,
  ): Promise<{ statement: Statement; body: Buffer; sig: string }> {
    const [envelope] = await attachedAttestations(
      location,
      artifactDescriptor(artifact).digest,
      SLSA_PROVENANCE_V1,
      {},
    );
    assert.ok(envelope, "a provenance is attached");
    assert.equal(envelope.payloadType, "application/vnd.in-toto+json");
    const body = Buffer.from(envelope.payload, "base64");
    return { statement: JSON.parse(body.toString()), body, sig: envelope.signatures[0].sig };
  }

  test("the statement and its predicate satisfy the in-toto v1 and SLSA v1 schemas; its DSSE signature checks with the public key alone", async () => {
    const location = await layout("schema", built.artifact);
    const report = await signImage(location, await key(), { artifact: built.artifact });
    assert.deepEqual(report.provenance, { via: "layout" });
    const { statement, body, sig } = await attachedStatement(location, built.artifact);
    assert.equal(statementErrors(statement), null, JSON.stringify(statementErrors(statement)));
    assert.equal(
      provenanceErrors(statement.predicate),
      null,
      JSON.stringify(provenanceErrors(statement.predicate)),
    );
    const pub = createPublicKey(await readFile(keys.publicFile, "utf8"));
    assert.ok(verify("sha256", pae("application/vnd.in-toto+json", body), pub, Buffer.from(sig, "base64")));
  });

  test("the subject is the image's digest, the materials are the lock's .debs and InReleases, the lock digest is strata.lock's", async () => {
    const location = await layout("materials", built.artifact);
    await signImage(location, await key(), { artifact: built.artifact });
    const { statement } = await attachedStatement(location, built.artifact);
    assert.deepEqual(statement.subject[0].digest, {
      sha256: artifactDescriptor(built.artifact).digest.slice(7),
    });
    const deps = (
      statement.predicate.buildDefinition as {
        resolvedDependencies: { uri: string; digest: { sha256: string } }[];
      }
    ).resolvedDependencies;
    const debs = deps
      .filter((d) => d.uri.endsWith(".deb"))
      .map((d) => `${d.uri} ${d.digest.sha256}`)
      .sort();
    const locked = built.lock.packages
      .map((p) => `${p.repository.replace(/\/+$/, "")}/${p.filename} ${p.sha256}`)
      .sort();
    assert.deepEqual(debs, locked);
    const releases = deps.filter((d) => d.uri.endsWith("/InRelease")).map((d) => d.digest.sha256);
    assert.deepEqual(
      releases,
      built.lock.releases.map((r) => r.inRelease),
    );
    const external = statement.predicate.buildDefinition as {
      externalParameters: { lock: { digest: { sha256: string } } };
    };
    assert.equal(external.externalParameters.lock.digest.sha256, sha256Hex(serializeLock(built.lock)));
    // Times come from the build's epoch, so the same build attests the same bytes.
    const run = statement.predicate.runDetails as { metadata: { startedOn: string; finishedOn: string } };
    const epoch = built.artifact.kind === "image" ? built.artifact.image.config.created : undefined;
    assert.equal(new Date(run.metadata.startedOn).toISOString(), new Date(epoch!).toISOString());
    assert.equal(run.metadata.finishedOn, run.metadata.startedOn);
  });

  test("verify --provenance passes for the image's own provenance and fails for another image's, a padded one, or another key's", async () => {
    const location = await layout("verify", built.artifact);
    const signer = await key();
    await signImage(location, signer, { artifact: built.artifact });
    const pub = createPublicKey(signer);
    assert.deepEqual((await verifyImage(location, [pub], { provenance: true })).provenance, {
      verified: true,
    });

    // Another image's provenance, signed by the same key, attached to this one.
    const foreign = await layout("foreign", built.artifact);
    await signImage(foreign, signer, { artifact: built.artifact, provenance: false });
    const otherStatement = await provenanceStatement(other.artifact, "x", { where: "test" });
    await attachAttestation(
      foreign as ImageLocation & { transport: "oci" },
      artifactDescriptor(built.artifact),
      otherStatement,
      signer,
      {},
    );
    const wrongSubject = await verifyImage(foreign, [pub], { provenance: true });
    assert.equal(wrongSubject.provenance?.verified, false);
    assert.match(wrongSubject.provenance!.reason!, /its subject is not/);

    // The right subject with one .deb too many.
    const padded = await provenanceStatement(built.artifact, "x", { where: "test" });
    (padded.predicate.buildDefinition as { resolvedDependencies: unknown[] }).resolvedDependencies.push({
      uri: "http://example.invalid/pool/evil.deb",
      digest: { sha256: "0".repeat(64) },
    });
    await attachAttestation(
      foreign as ImageLocation & { transport: "oci" },
      artifactDescriptor(built.artifact),
      padded,
      signer,
      {},
    );
    const extra = await verifyImage(foreign, [pub], { provenance: true });
    assert.match(extra.provenance!.reason!, /resolved dependencies are not the image's/);

    const stranger = await loadPrivateKey(strangerKeys.privateFile, async () => SIGNING_PASSPHRASE);
    const byStranger = await layout("stranger", built.artifact);
    await signImage(byStranger, stranger, { artifact: built.artifact });
    const refused = await verifyImage(byStranger, [pub], { provenance: true });
    assert.equal(refused.provenance?.reason, "no attached provenance is signed by these keys");
  });

  test("sbom --attach --sign attests both SBOMs of the image, each signed over its DSSE PAE", async () => {
    const imageLocation = await layout("sbom-attest", built.artifact);
    const location = `oci:${(imageLocation as { path: string }).path}`;
    const r = await runStrata(
      ["sbom", location, "--attach", "--sign", "--key", keys.privateFile, "-o", join(dir, "sbom.json")],
      {
        env: SIGNING_ENV,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const image = built.artifact.kind === "image" ? built.artifact.image : undefined;
    const subject = imageDescriptor(image!).digest;
    const pub = createPublicKey(await readFile(keys.publicFile, "utf8"));
    for (const type of ["https://spdx.dev/Document", "https://cyclonedx.org/bom"]) {
      const [envelope] = await attachedAttestations(imageLocation, subject, type, {});
      assert.ok(envelope, type);
      const body = Buffer.from(envelope.payload, "base64");
      assert.ok(
        verify(
          "sha256",
          pae(envelope.payloadType, body),
          pub,
          Buffer.from(envelope.signatures[0].sig, "base64"),
        ),
      );
      const statement = JSON.parse(body.toString());
      assert.equal(statement.subject[0].digest.sha256, subject.slice(7));
      assert.equal(statementErrors(statement), null);
    }
    const unattached = await runStrata(["sbom", location, "--sign", "--key", keys.privateFile], {
      env: SIGNING_ENV,
    });
    assert.equal(unattached.code, 2);
    assert.match(unattached.stderr, /needs --attach/);
  });

  test("an image strata did not build is signed without a provenance, and says why", async () => {
    const { image } = await freshImage(1);
    const location = await layout("foreign-image", { kind: "image", image });
    const report = await signImage(location, await key());
    assert.ok("skipped" in report.provenance);
    assert.match(report.provenance.skipped, /not built by strata/);
  });

  test("in a registry without the referrers API: strata sign, then verify --provenance from the CLI", async () => {
    const ref = `${registry.host}/built/app:1`;
    await writeLocation(
      { transport: "docker", ref: { registry: registry.host, repository: "built/app", tag: "1" }, text: ref },
      built.artifact,
      {
        refName: "1",
        archiveName: ref,
      },
    );
    const signed = await runStrata(["sign", ref, "--key", keys.privateFile], { env: SIGNING_ENV });
    assert.equal(signed.code, 0, signed.stderr);
    assert.match(signed.stderr, /attached signed provenance \(tag-fallback\)/);
    const ok = await runStrata(["verify", ref, "--key", keys.publicFile, "--provenance"]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /provenance: verified/);
    const no = await runStrata(["verify", ref, "--key", strangerKeys.publicFile, "--provenance", "--json"]);
    assert.equal(no.code, 1);
    assert.equal(JSON.parse(no.stdout).provenance.verified, false);
  });

  test("the webhook's require: provenance admits an image with its signed provenance and denies one without", async () => {
    // Two images: verdicts are cached per digest, and a digest's signed provenance counts wherever it is.
    const push = async (repository: string, artifact: Artifact) => {
      const ref = `${registry.host}/${repository}:1`;
      const location: ImageLocation = {
        transport: "docker",
        ref: { registry: registry.host, repository, tag: "1" },
        text: ref,
      };
      await writeLocation(location, artifact, { refName: "1", archiveName: ref });
      return { ref, home: location };
    };
    const signer = await key();
    const attested = await push("prov/attested", built.artifact);
    await signImage(attested.home, signer);
    const bare = await push("prov/bare", other.artifact);
    await signImage(bare.home, signer, { provenance: false });
    const policyFile = join(dir, "keys", "policy.yaml");
    await writeFile(policyFile, "require:\n  signed-by: [release.pub]\n  provenance: true\n");
    const index = await FleetIndex.open(join(dir, "index.db"));
    try {
      const decider = new ImageDecider({ policy: await loadPolicy(policyFile), index });
      assert.equal((await decider.decide(attested.ref))[0].allowed, true);
      const denied = (await decider.decide(bare.ref))[0];
      assert.equal(denied.allowed, false);
      assert.deepEqual(
        denied.violations.map((v) => v.message),
        [`${bare.ref} is not attested by a signed provenance: no provenance is attached`],
      );
    } finally {
      await index.close();
    }
    await writeFile(policyFile, "require:\n  provenance: true\n");
    await assert.rejects(
      loadPolicy(policyFile),
      (e) => isStrataError(e, "POLICY_INVALID") && /needs signed-by/.test(e.message),
    );
  });
});
