import { readdir, stat } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import type * as openpgp from "openpgp";
import type { ImageReference } from "../oci/reference.js";
import { digestHex } from "../oci/types.js";
import { StrataError } from "../util/errors.js";
import { readRegularFile, writeFileAtomic } from "../util/fs.js";
import { STRATA_VERSION } from "../util/version.js";

/**
 * containers/image "simple signing" (docs/containers-signature.5.md), what Debian's podman and
 * skopeo verify under a policy.json `signedBy` requirement: an OpenPGP signed message (not
 * detached) whose literal data is the "atomic container signature" JSON, kept in a lookaside
 * directory (containers-registries.d(5)) at `REPOSITORY@sha256=HEX/signature-N`.
 */

const ATOMIC_TYPE = "atomic container signature";
const MAX_GPG_KEY_BYTES = 1 << 20;
/** containers/image reads signature-1, -2, … until one is missing; keep the directory small. */
const MAX_SIGNATURES = 64;

/** The payload for the image named `dockerReference` (REGISTRY/REPO:TAG, what podman pulls) at `digest`. */
export function atomicPayload(dockerReference: string, digest: string, now: Date): Buffer {
  const payload = {
    critical: {
      identity: { "docker-reference": dockerReference },
      image: { "docker-manifest-digest": digest },
      type: ATOMIC_TYPE,
    },
    optional: { creator: `strata ${STRATA_VERSION}`, timestamp: Math.floor(now.getTime() / 1000) },
  };
  return Buffer.from(JSON.stringify(payload));
}

function gpgKeyError(file: string, why: string): StrataError {
  return new StrataError("USAGE", `${file}: ${why}`, {
    hint: "export the signing key with `gpg --export-secret-keys --armor KEYID > FILE`",
  });
}

/** openpgp.js (a megabyte) is loaded only when a GPG key is used: every build imports this module. */
const loadOpenpgp = () => import("openpgp");

/** The OpenPGP private key in `file` (armored), unlocked with `passphrase()` when it is protected. */
export async function loadGpgKey(
  file: string,
  passphrase: () => Promise<string>,
): Promise<openpgp.PrivateKey> {
  const info = await stat(file).catch(() => undefined);
  if (info === undefined || !info.isFile()) throw gpgKeyError(file, "no such key file");
  if (info.size > MAX_GPG_KEY_BYTES) throw gpgKeyError(file, `is ${info.size} bytes, too large for a key`);
  let key: openpgp.PrivateKey;
  try {
    const armoredKey = (await readRegularFile(file, MAX_GPG_KEY_BYTES)).toString("utf8");
    key = await (await loadOpenpgp()).readPrivateKey({ armoredKey });
  } catch (err) {
    throw gpgKeyError(
      file,
      `is not an armored OpenPGP private key (${String((err as Error).message).slice(0, 120)})`,
    );
  }
  if (key.isDecrypted()) return key;
  try {
    return await (await loadOpenpgp()).decryptKey({ privateKey: key, passphrase: await passphrase() });
  } catch {
    throw new StrataError("USAGE", `${file}: cannot be unlocked with this passphrase`, {
      hint: "check STRATA_SIGNING_PASSPHRASE",
    });
  }
}

/** The signed message (binary OpenPGP) of `payload`. */
export async function signAtomic(payload: Buffer, key: openpgp.PrivateKey): Promise<Buffer> {
  const pgp = await loadOpenpgp();
  const message = await pgp.createMessage({ binary: payload });
  const signed = await pgp.sign({ message, signingKeys: key, format: "binary" });
  return Buffer.from(signed as Uint8Array);
}

/** The lookaside directory of `digest` in `ref`'s repository, checked to stay under `dir`. */
function lookasidePath(dir: string, ref: ImageReference, digest: string): string {
  const base = resolve(dir);
  const path = resolve(base, `${ref.repository}@sha256=${digestHex(digest)}`);
  if (!path.startsWith(base + sep))
    throw new StrataError("UNSAFE_PATH", `repository ${ref.repository} leads out of ${dir}`);
  return path;
}

/**
 * Writes `signature` as the next `signature-N` of `digest` in the lookaside `dir`; an identical
 * one already there is kept instead. Returns its path.
 */
export async function storeInLookaside(
  dir: string,
  ref: ImageReference,
  digest: string,
  signature: Buffer,
): Promise<string> {
  const where = lookasidePath(dir, ref, digest);
  const present = new Set(await readdir(where).catch(() => [] as string[]));
  for (let n = 1; n <= MAX_SIGNATURES; n++) {
    const file = join(where, `signature-${n}`);
    if (!present.has(`signature-${n}`)) {
      await writeFileAtomic(file, signature);
      return file;
    }
    // An existing signature of another length, or not a file, is simply not this one.
    const existing = await readRegularFile(file, signature.length).catch(() => undefined);
    if (existing?.equals(signature)) return file;
  }
  throw new StrataError("IO", `${where}: already ${MAX_SIGNATURES} signatures`, {
    hint: "remove old signatures of this digest from the lookaside directory",
  });
}
