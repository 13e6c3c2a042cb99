import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";

/**
 * A real CNCF distribution registry (`docker-registry serve`) on a free 127.0.0.1 port with
 * filesystem storage in a temp dir, for tests. Optional htpasswd basic auth, TLS with a self-signed
 * certificate made by openssl, and token auth. `stop()` kills it (a crash, as far as clients can
 * tell) and `start()` brings it back on the same port and storage.
 */

const run = promisify(execFile);

export interface SelfSignedCertificate {
  certFile: string;
  keyFile: string;
}

/** A self-signed certificate for 127.0.0.1 / localhost (also usable as a token-signing key pair). */
export async function selfSignedCertificate(dir: string, name = "registry"): Promise<SelfSignedCertificate> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout",
    keyFile,
    "-out",
    certFile,
  ]);
  return { certFile, keyFile };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RegistryOptions {
  /** Require these credentials (htpasswd, bcrypt); the registry insists on TLS for it, so TLS is on too. */
  htpasswd?: { username: string; password: string };
  tls?: boolean;
  /** Token auth (distribution's `auth.token`), tokens signed by the key of `rootCertFile`. */
  token?: { realm: string; service: string; issuer: string; rootCertFile: string };
}

export interface RegistryServer {
  /** "127.0.0.1:<port>" — the registry part of an image reference. */
  host: string;
  storageDir: string;
  /** Its configuration file, for `docker-registry garbage-collect` (with the registry stopped). */
  configFile: string;
  /** The certificate clients must trust, when TLS is on. */
  caFile?: string;
  /** The child process' output so far, for failing tests to show. */
  log(): string;
  /** Kills the registry process and waits until it is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port and storage. */
  start(): Promise<void>;
  /** Stops it and removes its temp dir. */
  close(): Promise<void>;
}

async function answers(host: string, tls: boolean): Promise<boolean> {
  const request = tls ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = request(
      `${tls ? "https" : "http"}://${host}/v2/`,
      { rejectUnauthorized: false, timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200 || res.statusCode === 401);
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

export async function startRegistry(opts: RegistryOptions = {}): Promise<RegistryServer> {
  const dir = await mkdtemp(join(tmpdir(), "strata-registry-"));
  const storageDir = join(dir, "storage");
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const tls = opts.tls === true || opts.htpasswd !== undefined;
  const cert = tls ? await selfSignedCertificate(dir) : undefined;

  const http: Record<string, unknown> = { addr: host, secret: "strata-test-secret" };
  if (cert) http.tls = { certificate: cert.certFile, key: cert.keyFile };
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: "error", accesslog: { disabled: true } },
    // No blob descriptor cache: tests edit storage behind the registry's back.
    storage: { filesystem: { rootdirectory: storageDir }, delete: { enabled: true } },
    http,
  };
  if (opts.htpasswd) {
    const { stdout } = await run("htpasswd", ["-Bbn", opts.htpasswd.username, opts.htpasswd.password]);
    const file = join(dir, "htpasswd");
    await writeFile(file, stdout);
    config.auth = { htpasswd: { realm: "strata-test", path: file } };
  } else if (opts.token) {
    const { realm, service, issuer, rootCertFile } = opts.token;
    config.auth = { token: { realm, service, issuer, rootcertbundle: rootCertFile } };
  }
  const configFile = join(dir, "config.yml");
  // JSON is YAML, and needs no YAML writer.
  await writeFile(configFile, JSON.stringify(config));

  let child: ChildProcess | undefined;
  let output = "";
  const killOnExit = () => child?.kill("SIGKILL");
  process.once("exit", killOnExit);

  const stop = async () => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill("SIGKILL");
    await exited;
  };

  const start = async () => {
    const proc = spawn("docker-registry", ["serve", configFile], { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    proc.stdout?.on("data", (d) => (output += d));
    proc.stderr?.on("data", (d) => (output += d));
    const deadline = Date.now() + 15_000;
    while (!(await answers(host, tls))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`docker-registry did not come up on ${host}:\n${output}`);
      }
      await sleep(50);
    }
  };

  await start();
  return {
    host,
    storageDir,
    configFile,
    caFile: cert?.certFile,
    log: () => output,
    stop,
    start,
    close: async () => {
      await stop();
      process.off("exit", killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Where the filesystem driver keeps a blob's bytes (distribution's storage layout). */
export function registryBlobPath(storageDir: string, digest: string): string {
  const hex = digest.slice("sha256:".length);
  return join(storageDir, "docker", "registry", "v2", "blobs", "sha256", hex.slice(0, 2), hex, "data");
}
