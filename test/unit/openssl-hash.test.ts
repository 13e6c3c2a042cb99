import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import { pemCertificates } from "../../src/effects/certificate.js";
import { subjectHash } from "../../src/effects/openssl-hash.js";
import { packageEntries } from "../../src/layers/layer.js";
import { resolveCompression } from "../../src/oci/compress.js";
import { isStrataError } from "../../src/util/errors.js";
import { BodySpool } from "../../src/util/spool.js";
import { opensslSubjectHash, selfSigned } from "../helpers/certificates.js";
import { realDeb, tempDir } from "../helpers/debs.js";

const BMP_CONFIG = "[req]\ndistinguished_name=dn\nstring_mask=default\n[dn]\n";

test("every certificate of the real ca-certificates package is recorded with the subject hash openssl x509 -subject_hash prints", async () => {
  const deb = await realDeb("ca-certificates");
  const dir = await tempDir("hash");
  const store = join(dir, "store");
  const input = { debPath: deb.path, debSha256: deb.sha256, locked: deb.locked, store, epoch: 0 };
  const spool = new BodySpool(store);
  const { entries, facts } = await packageEntries(
    { ...input, compression: resolveCompression("gzip"), keepDocs: false },
    spool,
  );
  await spool.remove();
  const certs = facts.caCertificates ?? [];
  assert.ok(certs.length > 100, `only ${certs.length} certificates recorded`);
  const mismatches: string[] = [];
  for (const [i, cert] of certs.entries()) {
    const body = entries.find((e) => e.path === `usr/share/ca-certificates/${cert.path}`)?.body;
    assert.ok(body, cert.path);
    const file = join(dir, `${i}.crt`);
    await writeFile(file, body);
    const expected = await opensslSubjectHash(file);
    if (cert.subjectHash !== expected) mismatches.push(`${cert.path}: ${cert.subjectHash} != ${expected}`);
  }
  assert.deepEqual(mismatches, []);
});

test("names openssl canonicalises (case, runs of spaces, multi-valued RDNs, UTF-8 and BMPString values) hash as openssl hashes them", async () => {
  const dir = await tempDir("hash-crafted");
  const config = join(dir, "bmp.cnf");
  await writeFile(config, BMP_CONFIG);
  const cases: Array<[string, string[]]> = [
    ["/CN=  Mixed   CASE  Name  /O=Example, Inc./C=DE", []],
    ["/O=Zeta+OU=alpha/CN=x", ["-multivalue-rdn"]],
    ["/OU=beta+O=ALPHA+CN=Gamma", ["-multivalue-rdn"]],
    // Canonical values sort in another order than the originals: CN "x y" is shorter than O "abcd".
    ["/CN=x    y+O=abcd", ["-multivalue-rdn"]],
    ["/CN=  Ünïcödé   ROOT  /O=Ëxample", ["-utf8"]],
    ["/CN=Ünïcödé € Root/O=BMP", ["-utf8", "-config", config]],
    ["/serialNumber=0042/DC=Example/emailAddress=CA@Example.ORG", []],
  ];
  for (const [i, [subject, extra]] of cases.entries()) {
    const pem = await selfSigned(subject, extra);
    const file = join(dir, `${i}.pem`);
    await writeFile(file, pem);
    const [der] = pemCertificates(pem, subject);
    assert.equal(subjectHash(der, subject), await opensslSubjectHash(file), subject);
  }
});

test("a damaged certificate is refused with DEB_INVALID, never read past its end or thrown as another error", async () => {
  const [der] = pemCertificates(await selfSigned("/CN=fuzz/O=Example"), "fuzz");
  const judged = (bytes: Uint8Array) => {
    try {
      return /^[0-9a-f]{8}$/.test(subjectHash(bytes, "fuzz"));
    } catch (err) {
      return isStrataError(err, "DEB_INVALID");
    }
  };
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => judged(bytes)),
    { numRuns: 500 },
  );
  fc.assert(
    fc.property(
      fc.nat(der.length - 1),
      fc.integer({ min: 0, max: 255 }),
      fc.nat(der.length),
      (at, byte, cut) => {
        const mutated = Buffer.from(der);
        mutated[at] = byte;
        return judged(mutated) && judged(mutated.subarray(0, cut));
      },
    ),
    { numRuns: 2000 },
  );
  assert.throws(
    () => subjectHash(der.subarray(0, der.length - 1), "cut"),
    (e) => isStrataError(e, "DEB_INVALID"),
  );
});
