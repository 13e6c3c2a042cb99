import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  scryptSync,
  sign,
  verify,
} from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import nacl from "tweetnacl";
import {
  keyFingerprint,
  loadPrivateKey,
  loadPublicKey,
  loadPublicKeySync,
  writeSigningKey,
} from "../../src/sign/keys.js";
import { isStrataError } from "../../src/util/errors.js";
import { runStrata } from "../helpers/cli.js";

const run = promisify(execFile);
const PASS = "correct horse";

/** A key sealed per cosign's documented format, written here without strata's code. */
function cosignSealed(der: Buffer, passphrase: string, label: string, N = 32768): string {
  const salt = Buffer.alloc(32, 7);
  const nonce = Buffer.alloc(24, 9);
  const key = scryptSync(passphrase, salt, 32, { N, r: 8, p: 1, maxmem: 1 << 26 });
  const doc = {
    kdf: { name: "scrypt", params: { N, r: 8, p: 1 }, salt: salt.toString("base64") },
    cipher: { name: "nacl/secretbox", nonce: nonce.toString("base64") },
    ciphertext: Buffer.from(nacl.secretbox(der, nonce, key)).toString("base64"),
  };
  const body = Buffer.from(JSON.stringify(doc)).toString("base64").replace(/.{64}/g, "$&\n");
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

function signsFor(priv: Awaited<ReturnType<typeof loadPrivateKey>>, pubPem: string): boolean {
  const data = Buffer.from("payload");
  return verify("sha256", data, createPublicKey(pubPem), sign("sha256", data, priv));
}

describe("signing keys", { timeout: 120_000 }, () => {
  let dir: string;
  const passphrase = async () => PASS;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "strata-keys-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test("a generated pair: the private key is owner-only, opens with its passphrase and matches the .pub", async () => {
    const { privateFile, publicFile } = await writeSigningKey(join(dir, "gen"), PASS);
    assert.equal((await stat(privateFile)).mode & 0o777, 0o600);
    const priv = await loadPrivateKey(privateFile, passphrase);
    const pub = await loadPublicKey(publicFile);
    assert.ok(signsFor(priv, await readFile(publicFile, "utf8")));
    assert.equal(keyFingerprint(priv), keyFingerprint(pub));
    await assert.rejects(writeSigningKey(join(dir, "gen"), PASS), (e) => isStrataError(e, "OUTPUT_EXISTS"));
  });

  test("strata's private key is cosign's format: it opens with scrypt and secretbox alone", async () => {
    const { privateFile, publicFile } = await writeSigningKey(join(dir, "cosignable"), PASS);
    const text = await readFile(privateFile, "utf8");
    const m = /-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----([^-]+)-----END/.exec(text);
    assert.ok(m, text);
    const doc = JSON.parse(Buffer.from(m[1], "base64").toString());
    assert.deepEqual(doc.kdf.params, { N: 32768, r: 8, p: 1 });
    const key = scryptSync(PASS, Buffer.from(doc.kdf.salt, "base64"), 32, {
      N: 32768,
      r: 8,
      p: 1,
      maxmem: 1 << 26,
    });
    const der = nacl.secretbox.open(
      Buffer.from(doc.ciphertext, "base64"),
      Buffer.from(doc.cipher.nonce, "base64"),
      key,
    );
    assert.ok(der);
    const priv = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
    assert.ok(signsFor(priv, await readFile(publicFile, "utf8")));
  });

  test("a wrong passphrase is a one-line error that names the variable to check", async () => {
    const { privateFile } = await writeSigningKey(join(dir, "wrong"), PASS);
    await assert.rejects(
      loadPrivateKey(privateFile, async () => "nope"),
      (e) =>
        isStrataError(e, "USAGE") &&
        /passphrase/.test(e.message) &&
        /STRATA_SIGNING_PASSPHRASE/.test(e.hint!),
    );
  });

  test("cosign's encrypted key, under both of its PEM labels, is read", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    const der = privateKey.export({ format: "der", type: "pkcs8" });
    const pubPem = publicKey.export({ format: "pem", type: "spki" }).toString();
    for (const label of ["ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"]) {
      const file = join(dir, `${label.split(" ")[1]}.key`);
      await writeFile(file, cosignSealed(der, PASS, label));
      assert.ok(signsFor(await loadPrivateKey(file, passphrase), pubPem), label);
    }
  });

  test("a cosign key asking scrypt for more than its bounds is refused before any work", async () => {
    const file = join(dir, "greedy.key");
    const sealed = cosignSealed(Buffer.from("x"), PASS, "ENCRYPTED SIGSTORE PRIVATE KEY", 16);
    const text = sealed.replace(/-----\n([^-]+)\n-----/, (_, b64: string) => {
      const doc = JSON.parse(Buffer.from(b64.replace(/\n/g, ""), "base64").toString());
      doc.kdf.params.N = 1 << 30;
      return `-----\n${Buffer.from(JSON.stringify(doc)).toString("base64")}\n-----`;
    });
    await writeFile(file, text);
    await assert.rejects(
      loadPrivateKey(file, passphrase),
      (e) => isStrataError(e, "USAGE") && /scrypt/.test(e.message),
    );
  });

  test("PKCS#8 keys made by openssl, plain and encrypted, are read; an RSA key is refused", async () => {
    const plain = join(dir, "plain.pem");
    const enc = join(dir, "enc.pem");
    const rsa = join(dir, "rsa.pem");
    await run("openssl", [
      "genpkey",
      "-algorithm",
      "EC",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-out",
      plain,
    ]);
    await run("openssl", [
      "pkcs8",
      "-topk8",
      "-v2",
      "aes-256-cbc",
      "-in",
      plain,
      "-out",
      enc,
      "-passout",
      `pass:${PASS}`,
    ]);
    await run("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsa]);
    const pubPem = createPublicKey(await readFile(plain, "utf8"))
      .export({ format: "pem", type: "spki" })
      .toString();
    let asked = false;
    assert.ok(
      signsFor(
        await loadPrivateKey(plain, async () => {
          asked = true;
          return "";
        }),
        pubPem,
      ),
    );
    assert.equal(asked, false, "a plain key needs no passphrase");
    assert.ok(signsFor(await loadPrivateKey(enc, passphrase), pubPem));
    await assert.rejects(
      loadPrivateKey(rsa, passphrase),
      (e) => isStrataError(e, "USAGE") && /not ECDSA P-256/.test(e.message),
    );
  });

  test("a key path naming a device, a FIFO, a directory or a huge file is refused at once, unread", async () => {
    const fifo = join(dir, "fifo.pub");
    await run("mkfifo", [fifo]);
    const huge = join(dir, "huge.pub");
    await writeFile(huge, Buffer.alloc(2 << 20, 0x41));
    for (const file of ["/dev/zero", fifo, dir, huge]) {
      const refused = (e: unknown) =>
        isStrataError(e, "USAGE") && e.message.startsWith(`${file}: cannot be read as a key`);
      await assert.rejects(loadPublicKey(file), refused, file);
      await assert.rejects(loadPrivateKey(file, passphrase), refused, file);
      assert.throws(() => loadPublicKeySync(file), refused, file);
    }
    assert.throws(() => loadPublicKeySync(join(dir, "absent.pub")), /no such key file/);
  });

  test("strata key generate without a terminal or STRATA_SIGNING_PASSPHRASE refuses with a hint", async () => {
    delete process.env.STRATA_SIGNING_PASSPHRASE;
    const noEnv = await runStrata(["key", "generate", "--output", join(dir, "cli-none")]);
    assert.equal(noEnv.code, 2, noEnv.stderr);
    assert.match(noEnv.stderr, /no terminal to ask/);
    assert.match(noEnv.stderr, /STRATA_SIGNING_PASSPHRASE/);
    const ok = await runStrata(["key", "generate", "--output", join(dir, "cli")], {
      env: { STRATA_SIGNING_PASSPHRASE: PASS },
    });
    assert.equal(ok.code, 0, ok.stderr);
    await loadPrivateKey(join(dir, "cli.key"), passphrase);
  });
});
