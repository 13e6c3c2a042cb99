import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runStrata } from "../helpers/cli.js";
import { measureParity, PARITY_SETS, type ParityResult } from "../helpers/effects-parity.js";
import { SHARED_CACHE } from "../helpers/examples.js";
import { runImage } from "../helpers/runtime.js";

/** Effects generated from other packages' data (src/effects/generated.ts). */
const GENERATED = /^etc\/(ca-certificates\.conf$|ssl\/certs\/)/;

const listed = (r: ParityResult) => r.missing.map((m) => `  /${m.path}: ${m.why}`).join("\n");

describe("strata's images hold the effects dpkg's maintainer scripts make (root, network: host's mirror; mmdebstrap)", () => {
  let work: string;
  const results = new Map<string, ParityResult>();
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "strata-parity-"));
    const strata = async (args: string[]) => {
      const r = await runStrata(["--cache-dir", SHARED_CACHE, ...args]);
      if (r.code !== 0) throw new Error(`strata ${args[0]} failed (${r.code}):\n${r.stderr}`);
    };
    for (const set of PARITY_SETS) results.set(set.name, await measureParity(set, { work, strata }));
  });
  after(() => rm(work, { recursive: true, force: true }));

  for (const set of PARITY_SETS) {
    it(`${set.name}: every effect dpkg makes is in the image or on the list of effects skipped on purpose`, () => {
      const r = results.get(set.name)!;
      assert.ok(r.effects > 0, "dpkg made no effect at all: the comparison is not measuring anything");
      assert.equal(r.missing.length, 0, `${r.missing.length} of ${r.effects} effects missing:\n${listed(r)}`);
    });
  }

  it("the certificate links, /etc/ca-certificates.conf and the Java trust store are made as dpkg makes them", () => {
    const all = [...results.values()];
    const missing = all.flatMap((r) =>
      r.missing.filter((m) => GENERATED.test(m.path)).map((m) => `/${m.path}: ${m.why}`),
    );
    assert.deepEqual(missing, []);
    const made = all.flatMap((r) => r.made);
    for (const path of ["etc/ca-certificates.conf", "etc/ssl/certs/java/cacerts"])
      assert.ok(made.includes(path), path);
    assert.ok(
      made.filter((p) => /^etc\/ssl\/certs\/[0-9a-f]{8}\.\d+$/.test(p)).length > 100,
      "subject-hash links",
    );
  });

  it("java in the openjdk image finds the trust store where it looks by default: keytool -cacerts lists every certificate (runc)", async () => {
    const r = results.get("openjdk-17-jre-headless")!;
    const pems = r.made.filter((p) => /^etc\/ssl\/certs\/[^/]+\.pem$/.test(p)).length;
    const keytool = "/usr/lib/jvm/java-17-openjdk-amd64/bin/keytool";
    const run = await runImage(r.layout, "latest", {
      args: [keytool, "-list", "-cacerts", "-storepass", "changeit"],
    });
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stdout, /Keystore type: JKS/);
    assert.match(run.stdout, new RegExp(`Your keystore contains ${pems} entries`));
    assert.ok(pems > 100, `${pems} certificate links`);
  });

  it("mmdebstrap installed every locked package at its locked version, so the two trees compare the same packages", () => {
    assert.deepEqual(
      [...results.values()].flatMap((r) => r.skew),
      [],
    );
  });
});
