import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import * as openpgp from "openpgp";

/** A package stanza for the fake repository; Filename, Size and SHA256 are filled in. */
export interface FakePackage {
  name: string;
  version: string;
  arch?: string;
  fields?: Record<string, string>;
  /** The .deb's bytes (any bytes will do for lock and fetch tests). */
  body?: Buffer;
  /** The SHA256 field as written in the stanza, instead of the body's (a hostile index). */
  sha256?: string;
  /** The Filename and Size fields as written, instead of the pool path and the body's size. */
  filename?: string;
  size?: string;
}

export interface FakeRepoOptions {
  suite?: string;
  packages: FakePackage[];
  validUntil?: Date;
  /** Change the served Packages.gz after signing (a tampered index). */
  tamperPackages?: boolean;
  /**
   * Serve a validly compressed Packages.gz that is not the signed one: `recompressed` holds the
   * signed text compressed otherwise (only the compressed digest tells); `altered` holds other text
   * of the same size (a version's last digit changed) whose .gz the InRelease vouches for, while its plain entry names the signed
   * text (only the decompressed digest tells).
   */
  alterPackages?: "recompressed" | "altered";
  /** Also list and serve Packages.xz (made by xz-utils), tried after Packages.gz. */
  xz?: boolean;
  /** A man in the middle: the bytes served for `path` instead of `body` (undefined: `body` as is). */
  alter?: (path: string, body: Buffer) => Buffer | undefined;
  /** Change a line of the signed text after signing (a tampered InRelease). */
  tamperInRelease?: boolean;
  /** Sign with a key that is not in the keyring handed to strata. */
  signWithStranger?: boolean;
  /** Serve the release text without any signature. */
  unsigned?: boolean;
  /** Paths whose body is cut in half while Content-Length promises all of it. */
  truncate?: Set<string>;
  /** Paths that answer 404 although the InRelease lists them (a mirror mid-sync). */
  missing?: Set<string>;
  /** Say `Acquire-By-Hash: yes` and serve the indexes under by-hash/SHA256/ too. */
  byHash?: boolean;
  /** The signed Date (default 2026-11-24 00:00 UTC). */
  date?: Date;
  /** Paths answered only after this many milliseconds (a slow download). */
  delay?: Map<string, number>;
}

export interface FakeRepo {
  url: string;
  keyring: string;
  dir: string;
  /** Requests served, by path, for asserting what was (not) fetched. */
  hits: Map<string, number>;
  /** Signs and serves a new InRelease with the same key, dated `date` (an update, or a replay). */
  republish(date: Date): Promise<void>;
  close(): Promise<void>;
}

const otherLastDigit = (_line: string, head: string, digit: string) => `${head}${(Number(digit) + 1) % 10}`;

const sha256 = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");

async function newKey() {
  return openpgp.generateKey({ type: "ecc", userIDs: [{ name: "strata test archive" }], format: "object" });
}

/**
 * Serves a small, really signed Debian repository on 127.0.0.1 from memory: InRelease signed by a
 * key generated for the test, Packages and Packages.gz, and pool files.
 */
export async function startFakeRepo(opts: FakeRepoOptions): Promise<FakeRepo> {
  const suite = opts.suite ?? "testing";
  const dir = await mkdtemp(join(tmpdir(), "strata-fake-repo-"));
  const files = new Map<string, Buffer>();
  const stanzas: string[] = [];
  for (const p of opts.packages) {
    const arch = p.arch ?? "amd64";
    const body = p.body ?? Buffer.from(`fake deb ${p.name} ${p.version}\n`);
    const filename = `pool/main/${p.name[0]}/${p.name}/${p.name}_${p.version}_${arch}.deb`;
    files.set(`/${filename}`, body);
    const extra = Object.entries(p.fields ?? {})
      .map(([k, v]) => `${k}: ${v}\n`)
      .join("");
    stanzas.push(
      `Package: ${p.name}\nVersion: ${p.version}\nArchitecture: ${arch}\nPriority: optional\n${extra}Filename: ${p.filename ?? filename}\nSize: ${p.size ?? body.length}\nSHA256: ${p.sha256 ?? sha256(body)}\n`,
    );
  }
  const packagesText = Buffer.from(stanzas.join("\n"));
  const packagesGz =
    opts.alterPackages === "recompressed"
      ? gzipSync(packagesText, { level: 1 })
      : opts.alterPackages === "altered"
        ? gzipSync(Buffer.from(packagesText.toString().replace(/^(Version: .*)(\d)$/m, otherLastDigit)))
        : gzipSync(packagesText);
  // What the InRelease says of the .gz: the one signed, or for `recompressed` the usual one.
  const signedGz = opts.alterPackages === "recompressed" ? gzipSync(packagesText) : packagesGz;
  const packagesXz = opts.xz ? execFileSync("xz", ["-c"], { input: packagesText }) : undefined;
  const rel = "main/binary-amd64/Packages";
  const key = await newKey();
  const signer = opts.signWithStranger ? await newKey() : key;
  const keyring = join(dir, "keyring.gpg");
  await writeFile(keyring, key.publicKey.write());
  const publish = async (date: Date) => {
    const until = opts.validUntil ? `Valid-Until: ${opts.validUntil.toUTCString()}\n` : "";
    const byHash = opts.byHash ? "Acquire-By-Hash: yes\n" : "";
    const releaseText =
      `Origin: strata-test\nSuite: ${suite}\nCodename: ${suite}\nDate: ${date.toUTCString()}\n${until}${byHash}` +
      `Architectures: amd64\nComponents: main\nSHA256:\n` +
      ` ${sha256(packagesText)} ${packagesText.length} ${rel}\n` +
      ` ${sha256(signedGz)} ${signedGz.length} ${rel}.gz\n` +
      (packagesXz ? ` ${sha256(packagesXz)} ${packagesXz.length} ${rel}.xz\n` : "");
    let inRelease = await openpgp.sign({
      message: await openpgp.createCleartextMessage({ text: releaseText }),
      signingKeys: signer.privateKey,
    });
    if (opts.tamperInRelease) inRelease = inRelease.replace("Origin: strata-test", "Origin: strata-evil");
    if (opts.unsigned) inRelease = releaseText;
    files.set(`/dists/${suite}/InRelease`, Buffer.from(inRelease));
  };
  await publish(opts.date ?? new Date("2026-11-24T00:00:00Z"));

  files.set(`/dists/${suite}/${rel}`, packagesText);
  const servedGz = Buffer.from(packagesGz);
  if (opts.tamperPackages) servedGz[servedGz.length - 9] ^= 0xff;
  files.set(`/dists/${suite}/${rel}.gz`, servedGz);
  if (packagesXz) files.set(`/dists/${suite}/${rel}.xz`, packagesXz);
  if (opts.byHash) {
    const byHashDir = `/dists/${suite}/main/binary-amd64/by-hash/SHA256`;
    files.set(`${byHashDir}/${sha256(packagesText)}`, packagesText);
    files.set(`${byHashDir}/${sha256(packagesGz)}`, servedGz);
  }

  const hits = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? "/").split("?")[0]);
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const stored = opts.missing?.has(path) ? undefined : files.get(path);
    const body = stored && (opts.alter?.(path, stored) ?? stored);
    const wait = opts.delay?.get(path);
    if (body && wait !== undefined) {
      setTimeout(() => res.end(body), wait);
      return;
    }
    if (!body) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "Content-Length": body.length, "Content-Type": "application/octet-stream" });
    if (opts.truncate?.has(path)) {
      res.write(body.subarray(0, Math.floor(body.length / 2)));
      res.destroy();
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    keyring,
    dir,
    hits,
    republish: publish,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A strata.yaml for the fake repository. */
export function fakeRepoSpec(repo: FakeRepo, packages: string[], extra = "", suite = "testing"): string {
  return [
    "repositories:",
    `  - url: ${repo.url}`,
    `    suites: [${suite}]`,
    "    components: [main]",
    `    keyring: ${repo.keyring}`,
    "archs: [amd64]",
    `packages: [${packages.join(", ")}]`,
    extra,
  ].join("\n");
}
