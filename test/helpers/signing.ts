import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { imageDescriptor } from "../../src/oci/image.js";
import { writeLocation } from "../../src/oci/locations/locations.js";
import { type ImageLocation, parseLocationName } from "../../src/oci/locations/name.js";
import { writeSigningKey } from "../../src/sign/keys.js";
import { runStrata } from "./cli.js";
import { type RegistryServer, startRegistry } from "./registry.js";
import { freshImage } from "./synthetic-image.js";

/**
 * Fixtures for the signature tests: key pairs on disk, fresh images pushed to a real registry, and
 * the registry's own view of cosign's signature tag, read with plain HTTP rather than strata's client.
 */

export const SIGNING_PASSPHRASE = "test passphrase";
export const SIGNING_ENV = { STRATA_SIGNING_PASSPHRASE: SIGNING_PASSPHRASE };

export async function keyPair(
  dir: string,
  name: string,
): Promise<{ privateFile: string; publicFile: string }> {
  await mkdir(dir, { recursive: true });
  return writeSigningKey(join(dir, name), SIGNING_PASSPHRASE);
}

/** A fresh one-layer image pushed to `registry` as `repo:tag`; its image location and manifest digest. */
export async function pushedImage(
  registry: RegistryServer,
  repo: string,
  tag: string,
): Promise<{ location: ImageLocation; ref: string; digest: string }> {
  const { image } = await freshImage(1);
  const ref = `${registry.host}/${repo}:${tag}`;
  const location = parseLocationName(`docker://${ref}`)!;
  await writeLocation(location, { kind: "image", image }, { refName: tag, archiveName: `${repo}:${tag}` });
  return { location: location, ref, digest: imageDescriptor(image).digest };
}

const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** cosign's signature manifest for `digest`, as the registry serves it (undefined when absent). */
export async function signatureManifest(
  registry: RegistryServer,
  repo: string,
  digest: string,
): Promise<
  | {
      bytes: Buffer;
      json: { layers: { digest: string; mediaType: string; annotations?: Record<string, string> }[] };
    }
  | undefined
> {
  const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/sha256-${digest.slice(7)}.sig`, {
    headers: { accept: OCI_MANIFEST },
  });
  if (res.status === 404) return undefined;
  const bytes = Buffer.from(await res.arrayBuffer());
  return { bytes, json: JSON.parse(bytes.toString()) };
}

/** A blob of `repo`, fetched plainly. */
export async function registryBlob(registry: RegistryServer, repo: string, digest: string): Promise<Buffer> {
  const res = await fetch(`http://${registry.host}/v2/${repo}/blobs/${digest}`);
  if (res.status !== 200) throw new Error(`blob ${digest}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Puts `bytes` (a manifest) under `tag` of `repo`: how an attacker copies a signature or moves a tag. */
export async function putManifest(
  registry: RegistryServer,
  repo: string,
  tag: string,
  bytes: Buffer,
): Promise<void> {
  const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/${tag}`, {
    method: "PUT",
    headers: { "content-type": OCI_MANIFEST },
    body: new Uint8Array(bytes),
  });
  if (res.status !== 201) throw new Error(`put ${tag}: ${res.status} ${await res.text()}`);
}

/** The manifest under `tag`, as served. */
export async function manifestBytes(registry: RegistryServer, repo: string, tag: string): Promise<Buffer> {
  const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/${tag}`, {
    headers: { accept: OCI_MANIFEST },
  });
  if (res.status !== 200) throw new Error(`get ${tag}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

export interface SigningFixture {
  registry: RegistryServer;
  dir: string;
  /** Two key pairs: the signer's and another one. */
  keyA: { privateFile: string; publicFile: string };
  keyB: { privateFile: string; publicFile: string };
}

/** A real registry and two key pairs in a temp dir, set up and removed by the calling describe's hooks. */
export function signingFixture(): SigningFixture {
  const fixture = {} as SigningFixture;
  before(async () => {
    fixture.registry = await startRegistry();
    fixture.dir = await mkdtemp(join(tmpdir(), "strata-sign-"));
    fixture.keyA = await keyPair(fixture.dir, "a");
    fixture.keyB = await keyPair(fixture.dir, "b");
  });
  after(async () => {
    await fixture.registry.close();
    await rm(fixture.dir, { recursive: true, force: true });
  });
  return fixture;
}

/** `strata sign REF --key KEY --json` through the CLI; its report. */
export async function cliSign(ref: string, key: string): Promise<{ digest: string; stored: string[] }> {
  const res = await runStrata(["sign", ref, "--key", key, "--json"], { env: SIGNING_ENV });
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout);
}

/** `strata verify REF --json --key PUB...` through the CLI: its exit code, stderr and report. */
export async function cliVerify(ref: string, ...pubs: string[]) {
  const res = await runStrata(["verify", ref, "--json", ...pubs.flatMap((p) => ["--key", p])]);
  return { code: res.code, stderr: res.stderr, report: res.stdout ? JSON.parse(res.stdout) : undefined };
}
