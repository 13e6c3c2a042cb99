import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PackageURL } from "packageurl-js";
import { purlText } from "../../src/sbom/purl.js";

/** A small deterministic generator (mulberry32), so a failure names its seed and can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Mostly what Debian and images hold, with what needs encoding or normalising mixed in.
const ALPHABETS = {
  plain: "abcdefghijklmnopqrstuvwxyz0123456789+.-~:_AZ",
  odd: "ABCZ /?#&=%@éü!*'()[] \t",
};

function word(next: () => number, max: number): string {
  const length = 1 + Math.floor(next() * max);
  const mixed = next() < 0.3;
  let out = "";
  for (let i = 0; i < length; i++) {
    const alphabet = mixed && next() < 0.2 ? ALPHABETS.odd : ALPHABETS.plain;
    out += alphabet[Math.floor(next() * alphabet.length)];
  }
  return out;
}

function reference(
  type: string,
  ns: string | undefined,
  name: string,
  version: string,
  q: Record<string, string>,
) {
  try {
    return new PackageURL(type, ns, name, version, q, undefined).toString();
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
}

function ours(
  type: "deb" | "oci",
  ns: string | undefined,
  name: string,
  version: string,
  q: Record<string, string>,
) {
  try {
    return purlText(type, ns, name, version, q);
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
}

describe("purls", { timeout: 60_000 }, () => {
  test("are what packageurl-js writes for Debian's names, versions and qualifiers", () => {
    const q = { distro: "debian-12.8", arch: "amd64" };
    for (const [name, version] of [
      ["libstdc++6", "12.2.0-14+deb12u1"],
      ["zlib1g", "1:1.2.13.dfsg-1"],
      ["python3.11", "3.11.2-6+deb12u6"],
      ["libc6", "2.36-9~bpo11+1"],
    ]) {
      assert.equal(purlText("deb", "debian", name, version, q), reference("deb", "debian", name, version, q));
    }
    assert.equal(
      purlText("oci", undefined, "python3", `sha256:${"a".repeat(64)}`, { arch: "arm64" }),
      `pkg:oci/python3@sha256:${"a".repeat(64)}?arch=arm64`,
    );
  });

  test("are what packageurl-js writes for any input, plain or not (20,000 random ones)", () => {
    const next = random(20261208);
    let plain = 0;
    for (let i = 0; i < 20_000; i++) {
      const type = next() < 0.8 ? "deb" : "oci";
      const ns = next() < 0.2 ? undefined : word(next, 10);
      const name = word(next, 20);
      const version = word(next, 24);
      const q: Record<string, string> = {};
      for (const key of ["arch", "distro", next() < 0.1 ? "Upper" : "epoch"].slice(0, Math.floor(next() * 4)))
        q[key] = next() < 0.05 ? "" : word(next, 12);
      assert.equal(
        ours(type, ns, name, version, q),
        reference(type, ns, name, version, q),
        JSON.stringify({ i, type, ns, name, version, q }),
      );
      if (!ours(type, ns, name, version, q).startsWith("refused") && /^[a-z0-9.-]*$/.test(ns ?? "")) plain++;
    }
    assert.ok(plain > 2_000, `the plain form was taken ${plain} times`);
  });
});
