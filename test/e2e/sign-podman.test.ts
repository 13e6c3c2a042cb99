import assert from "node:assert/strict";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as openpgp from "openpgp";
import { runStrata } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { podman } from "../helpers/podman.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";
import { pushedImage } from "../helpers/signing.js";

/**
 * Podman's own enforcement on Debian (sigstore is disabled in its build; GPG simple signing is
 * not): a policy.json `signedBy` rule with the public key, the lookaside directory named in a
 * registries.d file under $HOME/.config (the host's /etc/containers is left alone), and podman
 * pull of a signed image and of an unsigned one from a real docker-registry.
 */
describe("podman pull verifies strata's GPG simple signatures", { timeout: 240_000 }, () => {
  let registry: RegistryServer;
  let dir: string;
  let keyFile: string;
  let policy: string;
  let env: Record<string, string>;
  let savedHome: string | undefined;

  before(async () => {
    registry = await startRegistry();
    dir = await tempDir("sign-podman");
    const { privateKey, publicKey } = await openpgp.generateKey({
      type: "ecc",
      userIDs: [{ name: "strata release", email: "release@strata.invalid" }],
      passphrase: "gpg pass",
    });
    keyFile = join(dir, "release.asc");
    await writeFile(keyFile, privateKey);
    await writeFile(join(dir, "release.pub.asc"), publicKey);
    const lookaside = join(dir, "sigstore");
    const home = join(dir, "home");
    await mkdir(join(home, ".config", "containers", "registries.d"), { recursive: true });
    await writeFile(
      join(home, ".config", "containers", "registries.d", "strata-test.yaml"),
      `docker:\n  ${registry.host}:\n    lookaside: file://${lookaside}\n`,
    );
    policy = join(dir, "policy.json");
    const rule = { type: "signedBy", keyType: "GPGKeys", keyPath: join(dir, "release.pub.asc") };
    await writeFile(
      policy,
      JSON.stringify({ default: [{ type: "reject" }], transports: { docker: { [registry.host]: [rule] } } }),
    );
    env = { HOME: home, STRATA_SIGNING_PASSPHRASE: "gpg pass" };
    // podman (run by the helper with this process's environment) reads registries.d from $HOME.
    savedHome = process.env.HOME;
    process.env.HOME = home;
  });
  after(async () => {
    process.env.HOME = savedHome;
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function pull(ref: string) {
    const args = ["pull", "--signature-policy", policy, "--tls-verify=false", ref];
    return podman(join(dir, "podman"), ...args).then(
      () => ({ ok: true, stderr: "" }),
      (err: { stderr?: string }) => ({ ok: false, stderr: err.stderr ?? "" }),
    );
  }

  test("strata sign --gpg-key writes signature-1 under REPO@sha256=HEX in the lookaside directory", async () => {
    const { ref, digest } = await pushedImage(registry, "team/layout", "1");
    const r = await runStrata(["sign", ref, "--gpg-key", keyFile, "--lookaside", join(dir, "sigstore")], {
      env,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await readdir(join(dir, "sigstore", "team", `layout@sha256=${digest.slice(7)}`)), [
      "signature-1",
    ]);
  });

  test("podman pull accepts the signed image and refuses an unsigned one", async () => {
    const signed = await pushedImage(registry, "team/app", "signed");
    const unsigned = await pushedImage(registry, "team/app", "unsigned");
    const r = await runStrata(
      ["sign", signed.ref, "--gpg-key", keyFile, "--lookaside", join(dir, "sigstore")],
      { env },
    );
    assert.equal(r.code, 0, r.stderr);
    const accepted = await pull(signed.ref);
    assert.ok(accepted.ok, accepted.stderr);
    const refused = await pull(unsigned.ref);
    assert.equal(refused.ok, false);
    assert.match(refused.stderr, /signature/i);
  });
});
