import assert from "node:assert/strict";
import { createPublicKey, verify as verifySignature } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { artifactImages, imageDescriptor } from "../../src/oci/image.js";
import { readLayout } from "../../src/oci/layout.js";
import { attachedSbom } from "../../src/sbom/attach.js";
import { attachedAttestations } from "../../src/sign/attestations.js";
import { SLSA_PROVENANCE_V1 } from "../../src/sign/provenance.js";
import { sha256File } from "../../src/util/hash.js";
import { runStrata } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { type FakeRepo, fakeRepoSpec, startFakeRepo } from "../helpers/fake-repo.js";
import { modelPackages } from "../helpers/model-repo.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";
import { keyPair, SIGNING_ENV } from "../helpers/signing.js";

/** build --sign and update --sign through the CLI, from really signed repositories on loopback. */
describe("strata build --sign and update --sign", { timeout: 240_000 }, () => {
  let stable: FakeRepo;
  let updates: FakeRepo;
  let registry: RegistryServer;
  let dir: string;
  let keys: { privateFile: string; publicFile: string };
  const cache = () => ["--cache-dir", join(dir, "cache")];

  before(async () => {
    stable = await startFakeRepo({ packages: await modelPackages("1.0") });
    updates = await startFakeRepo({ suite: "testing-security", packages: await modelPackages("1.1") });
    registry = await startRegistry();
    dir = await tempDir("sign-cli");
    keys = await keyPair(join(dir, "keys"), "release");
  });
  after(async () => {
    await stable.close();
    await updates.close();
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function spec(name: string, withUpdates = false): Promise<string> {
    await mkdir(join(dir, name), { recursive: true });
    const file = join(dir, name, "strata.yaml");
    const second = [
      `  - url: ${updates.url}`,
      "    suites: [testing-security]",
      `    keyring: ${updates.keyring}`,
    ].join("\n");
    const text = fakeRepoSpec(stable, ["tools"], "exclude: [base-files]");
    await writeFile(file, withUpdates ? text.replace("archs:", `${second}\narchs:`) : text);
    return file;
  }

  const verify = (image: string) => runStrata(["verify", image, "--key", keys.publicFile, "--provenance"]);

  test("build --sign signs the layout and the pushed image, each with a provenance naming the spec's sha256, and attests the SBOMs", async () => {
    const file = await spec("build");
    const layout = join(dir, "build", "out");
    const ref = `${registry.host}/cli/app:1`;
    const args = [
      ...cache(),
      "build",
      "--lock-update",
      "-o",
      layout,
      "--push",
      ref,
      "--sign",
      "--key",
      keys.privateFile,
      file,
    ];
    const built = await runStrata(args, { env: SIGNING_ENV });
    assert.equal(built.code, 0, built.stderr);
    assert.match(built.stderr, /attached signed provenance \(layout\)/);
    assert.match(built.stderr, /attached signed provenance \(tag-fallback\)/);
    for (const image of [`oci:${layout}`, ref]) {
      const r = await verify(image);
      assert.equal(r.code, 0, `${image}: ${r.stdout}${r.stderr}`);
    }
    const digest = JSON.parse(
      (await runStrata(["verify", `oci:${layout}`, "--key", keys.publicFile, "--json"])).stdout,
    ).digest;
    const [envelope] = await attachedAttestations(
      { transport: "oci", path: layout },
      digest,
      SLSA_PROVENANCE_V1,
      {},
    );
    const statement = JSON.parse(Buffer.from(envelope.payload, "base64").toString());
    assert.equal(
      statement.predicate.buildDefinition.externalParameters.spec.digest.sha256,
      (await sha256File(file)).hex,
    );
    // The SPDX SBOM's attestation: about the platform image, its predicate the attached SBOM, signed (DSSE PAE).
    const image = artifactImages(await readLayout(layout))[0];
    const location = { transport: "oci" as const, path: layout };
    const spdxType = "https://spdx.dev/Document";
    const [sbomEnvelope] = await attachedAttestations(location, imageDescriptor(image).digest, spdxType, {});
    assert.ok(sbomEnvelope, "the SPDX SBOM is attested");
    const body = Buffer.from(sbomEnvelope.payload, "base64");
    const type = "application/vnd.in-toto+json";
    const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} ${type} ${body.length} `), body]);
    const pub = createPublicKey(await readFile(keys.publicFile, "utf8"));
    assert.ok(verifySignature("sha256", pae, pub, Buffer.from(sbomEnvelope.signatures[0].sig, "base64")));
    const attached = await attachedSbom(location, image, "spdx");
    assert.deepEqual(JSON.parse(body.toString()).predicate, JSON.parse(attached!.bytes.toString()));
  });

  test("a wrong passphrase stops the build before any work; --sign without --key is a usage error", async () => {
    const file = await spec("wrong");
    const layout = join(dir, "wrong", "out");
    const bad = await runStrata(
      [...cache(), "build", "--lock-update", "-o", layout, "--sign", "--key", keys.privateFile, file],
      {
        env: { STRATA_SIGNING_PASSPHRASE: "not it" },
      },
    );
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^strata: error: .*cannot be opened with this passphrase/m);
    assert.equal(existsSync(layout), false, "nothing was built");
    const noKey = await runStrata([...cache(), "build", "-o", layout, "--sign", file]);
    assert.equal(noKey.code, 2);
    assert.match(noKey.stderr, /--sign needs --key FILE/);
  });

  test("update --sign signs the new digest in the registry, with its provenance", async () => {
    const file = await spec("update");
    const ref = `${registry.host}/cli/update:1`;
    const built = await runStrata([...cache(), "build", "--lock-update", "--push", ref, file]);
    assert.equal(built.code, 0, built.stderr);
    const before = await runStrata(["verify", ref, "--key", keys.publicFile, "--json"]);
    assert.equal(before.code, 1, "not signed yet");
    await spec("update", true);
    const args = [
      ...cache(),
      "update",
      ref,
      "--spec",
      file,
      "--package",
      "libfoo",
      "--sign",
      "--key",
      keys.privateFile,
    ];
    const updated = await runStrata(args, { env: SIGNING_ENV });
    assert.equal(updated.code, 0, updated.stderr);
    const after = await runStrata(["verify", ref, "--key", keys.publicFile, "--json"]);
    assert.notEqual(
      JSON.parse(after.stdout).digest,
      JSON.parse(before.stdout).digest,
      "the update made a new digest",
    );
    const r = await verify(ref);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });
});
