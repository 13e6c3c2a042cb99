import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { pemCertificates } from "../../src/effects/certificate.js";
import { javaAlias, javaKeystore } from "../../src/effects/java-cacerts.js";
import { selfSigned } from "../helpers/certificates.js";
import { run, tempDir } from "../helpers/debs.js";

const EPOCH = 1700000000; // 2023-11-14

async function certificates() {
  const subjects = ["/CN=Zulu Root/O=Example", "/CN=Alpha Root/O=Example", "/CN=Mike (Root), G2/O=Example"];
  return Promise.all(subjects.map(async (s) => pemCertificates(await selfSigned(s), s)[0]));
}

const fingerprint = (der: Uint8Array) =>
  createHash("sha256")
    .update(der)
    .digest("hex")
    .toUpperCase()
    .replace(/(..)(?!$)/g, "$1:");

async function keytoolList(store: Buffer, password: string) {
  const file = join(await tempDir("jks"), "cacerts");
  await writeFile(file, store);
  return run("keytool", ["-list", "-v", "-keystore", file, "-storepass", password], {
    env: { ...process.env, LC_ALL: "C" },
  });
}

test("keytool reads the trust store with the password changeit: a JKS of every certificate under its debian: alias, dated the image epoch", async () => {
  const ders = await certificates();
  const names = ["Zulu_Root.pem", "Alpha_Root.pem", "Mike_=Root=__G2.pem"];
  const store = javaKeystore(
    ders.map((der, i) => ({ alias: javaAlias(names[i]), der })),
    EPOCH,
  );
  const { stdout } = await keytoolList(store, "changeit");
  assert.match(stdout, /Keystore type: JKS/);
  assert.match(stdout, /Your keystore contains 3 entries/);
  const listed = [
    ...stdout.matchAll(/Alias name: (.*)\nCreation date: (.*)\nEntry type: (.*)\n[\s\S]*?SHA256: (\S+)/g),
  ].map(([, alias, date, type, sha]) => ({ alias, date, type, sha }));
  assert.deepEqual(
    listed,
    [1, 2, 0].map((i) => ({
      alias: javaAlias(names[i]),
      date: "Nov 14, 2023",
      type: "trustedCertEntry",
      sha: fingerprint(ders[i]),
    })),
  );
});

test("the trust store is the same bytes whatever order its certificates come in", async () => {
  const ders = await certificates();
  const entries = ders.map((der, i) => ({ alias: `debian:c${i}.pem`, der }));
  assert.deepEqual(javaKeystore(entries, EPOCH), javaKeystore([...entries].reverse(), EPOCH));
});

test("keytool refuses the trust store under any other password: its digest is keyed by changeit", async () => {
  const [der] = await certificates();
  const store = javaKeystore([{ alias: "debian:one.pem", der }], EPOCH);
  await assert.rejects(keytoolList(store, "not-changeit"), (err: { stdout: string; stderr: string }) =>
    /password was incorrect/.test(err.stdout + err.stderr),
  );
  assert.match((await keytoolList(store, "changeit")).stdout, /contains 1 entry/);
});
