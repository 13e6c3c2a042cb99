import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { run, tempDir } from "./debs.js";

/**
 * Self-signed certificates made by the real openssl, for the cases the packaged ones do not have
 * (multi-valued RDNs, odd spacing, BMPStrings, two certificates of one subject).
 */
export async function selfSigned(subject: string, extra: string[] = []): Promise<string> {
  const dir = await tempDir("cert");
  const out = join(dir, "cert.pem");
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    join(dir, "key.pem"),
    "-days",
    "1",
    "-subj",
    subject,
    ...extra,
    "-out",
    out,
  ]);
  return readFile(out, "utf8");
}

/** What `openssl x509 -subject_hash` says of a PEM certificate. */
export async function opensslSubjectHash(pemPath: string): Promise<string> {
  const { stdout } = await run("openssl", ["x509", "-subject_hash", "-noout", "-in", pemPath]);
  return stdout.trim();
}
