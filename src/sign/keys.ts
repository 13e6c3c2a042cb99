import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  scryptSync,
} from "node:crypto";
import { StrataError } from "../util/errors.js";
import { pathExists, readRegularFile, readRegularFileSync, writeFileAtomic } from "../util/fs.js";
import { sha256Hex } from "../util/hash.js";
import { lazyModule } from "../util/lazy.js";

/** tweetnacl, loaded when a key is sealed or opened (a build that signs nothing never needs it). */
const naclModule = lazyModule<typeof import("tweetnacl")>("tweetnacl");

/**
 * Signing keys: ECDSA P-256, as cosign makes them. strata writes its private key in cosign's own
 * encrypted format (PEM "ENCRYPTED SIGSTORE PRIVATE KEY": JSON {kdf scrypt, cipher nacl/secretbox,
 * ciphertext of the PKCS#8 DER}, as go-securesystemslib's `encrypted` package writes it), so the
 * same key works with cosign; it also reads PKCS#8 PEM keys, encrypted or not. Public keys are SPKI
 * PEM ("PUBLIC KEY"), cosign.pub's format.
 */

const COSIGN_LABELS = ["ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY"];
const SCRYPT = { N: 32768, r: 8, p: 1 };
/** scrypt's memory for cosign's parameters is 32 MiB; a key may ask for up to eight times that. */
const MAX_SCRYPT_BYTES = 256 << 20;
/** A key file is a few hundred bytes; anything far larger is not one. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

export interface KeyPair {
  privatePem: string;
  publicPem: string;
}

function keyError(where: string, why: string, hint?: string): StrataError {
  return new StrataError("USAGE", `${where}: ${why}`, {
    hint: hint ?? "give a key made by `strata key generate` or `cosign generate-key-pair`, or a PKCS#8 PEM",
  });
}

function scryptKey(passphrase: string, salt: Buffer, params: { N: number; r: number; p: number }): Buffer {
  return scryptSync(Buffer.from(passphrase, "utf8"), salt, 32, {
    ...params,
    maxmem: 128 * params.N * params.r + (16 << 20),
  });
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** `privateKey` (PKCS#8) sealed with `passphrase` in cosign's encrypted key format. */
export function encryptCosignKey(privateKey: KeyObject, passphrase: string): string {
  const der = privateKey.export({ format: "der", type: "pkcs8" });
  const salt = randomBytes(32);
  const nonce = randomBytes(naclModule().secretbox.nonceLength);
  const sealed = naclModule().secretbox(der, nonce, scryptKey(passphrase, salt, SCRYPT));
  const doc = {
    kdf: { name: "scrypt", params: SCRYPT, salt: salt.toString("base64") },
    cipher: { name: "nacl/secretbox", nonce: Buffer.from(nonce).toString("base64") },
    ciphertext: Buffer.from(sealed).toString("base64"),
  };
  return pem(COSIGN_LABELS[0], Buffer.from(JSON.stringify(doc)));
}

/** A new P-256 key pair, the private key encrypted with `passphrase`. */
export function generateSigningKey(passphrase: string): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  return {
    privatePem: encryptCosignKey(privateKey, passphrase),
    publicPem: publicKey.export({ format: "pem", type: "spki" }).toString(),
  };
}

/**
 * Writes a new key pair to PREFIX.key (owner-only) and PREFIX.pub; an existing file is kept unless
 * `force`. Returns the two paths.
 */
export async function writeSigningKey(
  prefix: string,
  passphrase: string,
  force = false,
): Promise<{ privateFile: string; publicFile: string }> {
  const [privateFile, publicFile] = [`${prefix}.key`, `${prefix}.pub`];
  for (const file of [privateFile, publicFile])
    if (!force && (await pathExists(file)))
      throw new StrataError("OUTPUT_EXISTS", `${file} exists`, {
        hint: "choose another --output prefix, or pass --force to replace the key",
      });
  const pair = generateSigningKey(passphrase);
  await writeFileAtomic(privateFile, pair.privatePem, 0o600);
  await writeFileAtomic(publicFile, pair.publicPem);
  return { privateFile, publicFile };
}

interface CosignKeyDoc {
  kdf: { name: string; params: { N: number; r: number; p: number }; salt: string };
  cipher: { name: string; nonce: string };
  ciphertext: string;
}

function checkedCosignDoc(text: string, where: string): CosignKeyDoc {
  let doc: CosignKeyDoc | undefined;
  try {
    doc = JSON.parse(text);
  } catch {
    // reported below
  }
  const p = doc?.kdf?.params;
  const ok =
    doc?.kdf?.name === "scrypt" &&
    doc.cipher?.name === "nacl/secretbox" &&
    typeof doc.kdf.salt === "string" &&
    typeof doc.cipher.nonce === "string" &&
    typeof doc.ciphertext === "string" &&
    [p?.N, p?.r, p?.p].every((n) => Number.isInteger(n) && (n as number) > 0) &&
    // Bounds keep a crafted key file from asking scrypt for gigabytes of memory or minutes of work.
    (p!.N & (p!.N - 1)) === 0 &&
    128 * p!.N * p!.r <= MAX_SCRYPT_BYTES &&
    p!.p <= 16;
  if (!ok) throw keyError(where, "is not a cosign encrypted key (scrypt and nacl/secretbox)");
  return doc!;
}

/** Opens cosign's encrypted key format. */
function decryptCosignKey(body: Buffer, passphrase: string, where: string): KeyObject {
  const doc = checkedCosignDoc(body.toString("utf8"), where);
  const nonce = Buffer.from(doc.cipher.nonce, "base64");
  if (nonce.length !== naclModule().secretbox.nonceLength)
    throw keyError(where, "has a nonce of the wrong length");
  const key = scryptKey(passphrase, Buffer.from(doc.kdf.salt, "base64"), doc.kdf.params);
  const der = naclModule().secretbox.open(Buffer.from(doc.ciphertext, "base64"), nonce, key);
  if (der === null)
    throw keyError(where, "cannot be opened with this passphrase", "check STRATA_SIGNING_PASSPHRASE");
  return parsePrivate(() => createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" }), where);
}

function parsePrivate(make: () => KeyObject, where: string): KeyObject {
  let key: KeyObject;
  try {
    key = make();
  } catch (err) {
    const why = String((err as Error).message ?? err);
    if (/bad decrypt|passphrase/i.test(why))
      throw keyError(where, "cannot be opened with this passphrase", "check STRATA_SIGNING_PASSPHRASE");
    throw keyError(where, `is not a private key (${why.slice(0, 120)})`);
  }
  return checkedEcP256(key, where);
}

function checkedEcP256(key: KeyObject, where: string): KeyObject {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1")
    throw keyError(where, `is a ${key.asymmetricKeyType} key, not ECDSA P-256`);
  return key;
}

async function readKeyFile(file: string): Promise<Buffer> {
  try {
    return await readRegularFile(file, MAX_KEY_FILE_BYTES);
  } catch (err) {
    throw keyFileError(file, err);
  }
}

function keyFileError(file: string, err: unknown): StrataError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOENT" || code === "ENOTDIR") return keyError(file, "no such key file");
  return keyError(file, `cannot be read as a key: ${(err as Error).message}`);
}

/** The PEM block of `text` labelled `label`, decoded; undefined when there is none. */
function pemBody(text: string, label: string): Buffer | undefined {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(text);
  return m ? Buffer.from(m[1].replace(/\s+/g, ""), "base64") : undefined;
}

/**
 * The private key in `file`: cosign's encrypted format, an encrypted PKCS#8 PEM, or a plain one.
 * `passphrase` is asked for only when the key is encrypted.
 */
export async function loadPrivateKey(file: string, passphrase: () => Promise<string>): Promise<KeyObject> {
  const text = (await readKeyFile(file)).toString("utf8");
  for (const label of COSIGN_LABELS) {
    const body = pemBody(text, label);
    if (body !== undefined) return decryptCosignKey(body, await passphrase(), file);
  }
  if (pemBody(text, "ENCRYPTED PRIVATE KEY") !== undefined) {
    const phrase = await passphrase();
    return parsePrivate(() => createPrivateKey({ key: text, format: "pem", passphrase: phrase }), file);
  }
  if (pemBody(text, "PRIVATE KEY") !== undefined || pemBody(text, "EC PRIVATE KEY") !== undefined)
    return parsePrivate(() => createPrivateKey({ key: text, format: "pem" }), file);
  throw keyError(file, "holds no private key PEM block");
}

/** The public key in PEM `text` (SPKI, "PUBLIC KEY"), checked to be ECDSA P-256; `where` names it in errors. */
export function publicKeyFromPem(text: string, where: string): KeyObject {
  if (pemBody(text, "PUBLIC KEY") === undefined)
    throw keyError(where, "holds no PUBLIC KEY PEM block", "give the .pub file of the signing key");
  try {
    return checkedEcP256(createPublicKey({ key: text, format: "pem" }), where);
  } catch (err) {
    if (err instanceof StrataError) throw err;
    throw keyError(where, "holds no readable public key", "give the .pub file of the signing key");
  }
}

/** The public key in `file` (SPKI PEM), checked to be ECDSA P-256. */
export async function loadPublicKey(file: string): Promise<KeyObject> {
  return publicKeyFromPem((await readKeyFile(file)).toString("utf8"), file);
}

/** The same, read synchronously: for the policy file's `signed-by`, parsed in one go. */
export function loadPublicKeySync(file: string): KeyObject {
  let bytes: Buffer;
  try {
    bytes = readRegularFileSync(file, MAX_KEY_FILE_BYTES);
  } catch (err) {
    throw keyFileError(file, err);
  }
  return publicKeyFromPem(bytes.toString("utf8"), file);
}

/** A key's fingerprint: the sha256 of its SPKI DER, hex. */
export function keyFingerprint(key: KeyObject): string {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return sha256Hex(pub.export({ format: "der", type: "spki" }));
}
