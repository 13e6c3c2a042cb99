import { createSecureContext } from "node:tls";
import { StrataError } from "./errors.js";

/**
 * Start-up failures of the servers (`serve`, `admission serve`) as one line and a hint: Node's own
 * errors for a port in use or a bad certificate carry stack traces and OpenSSL's codes.
 */

/** Checks that `cert` and `key` are PEM and belong together, before any server is made. */
export function checkTlsPair(cert: Buffer, key: Buffer, files: { cert: string; key: string }): void {
  const hint = "give the certificate and its own private key in PEM (kubectl create secret tls makes both)";
  if (!cert.includes("-----BEGIN CERTIFICATE-----"))
    throw new StrataError("TLS", `--tls-cert ${files.cert}: not a PEM certificate`, { hint });
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key.toString("latin1")))
    throw new StrataError("TLS", `--tls-key ${files.key}: not a PEM private key`, { hint });
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    const reason = (err as Error).message;
    const what = /key values mismatch/i.test(reason)
      ? `--tls-key ${files.key} does not match the certificate ${files.cert}`
      : `--tls-cert ${files.cert} / --tls-key ${files.key}: ${reason}`;
    throw new StrataError("TLS", what, { hint });
  }
}

/** Runs `listen`; a port in use or not ours to take becomes one line naming the address. */
export async function listenOn<T>(address: string, listen: () => Promise<T>): Promise<T> {
  try {
    return await listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE")
      throw new StrataError("IO", `${address} is in use by another process`, {
        hint: "stop what listens there (ss -ltnp shows it), or choose another port with --listen",
      });
    if (code === "EADDRNOTAVAIL" || code === "EACCES")
      throw new StrataError("IO", `cannot listen on ${address} (${code})`, {
        hint: "use an address of this machine and, unless root, a port above 1023 with --listen",
      });
    throw err;
  }
}
