import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { compareVersions, parseVersion, versionSatisfies } from "../../src/debian/version.js";

/** Asks dpkg for the sign of a-vs-b for many pairs in one shell, so thousands of checks take seconds. */
function dpkgSigns(pairs: [string, string][]): number[] {
  const quote = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
  const script = pairs
    .map(
      ([a, b]) =>
        `if dpkg --compare-versions ${quote(a)} lt ${quote(b)}; then echo -1; elif dpkg --compare-versions ${quote(a)} eq ${quote(b)}; then echo 0; else echo 1; fi`,
    )
    .join("\n");
  const out = spawnSync("sh", ["-s"], { input: script, encoding: "utf8", maxBuffer: 1 << 26 });
  assert.equal(out.status, 0, out.stderr);
  return out.stdout.trim().split("\n").map(Number);
}

/** Every distinct version string in the host's apt lists (the real index). */
function realVersions(): string[] {
  const dump = execFileSync("apt-cache", ["dumpavail"], { encoding: "utf8", maxBuffer: 1 << 30 });
  const versions = new Set<string>();
  for (const m of dump.matchAll(/^Version: (.+)$/gm)) versions.add(m[1]);
  return [...versions];
}

/** A small deterministic PRNG so the sampled pairs are the same every run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const sign = (n: number) => (n < 0 ? -1 : n > 0 ? 1 : 0);

describe("Debian version comparison", () => {
  it("splits epoch, upstream and revision at the first colon and last hyphen", () => {
    assert.deepEqual(parseVersion("1:2.3-4-5"), { epoch: 1, upstream: "2.3-4", revision: "5" });
    assert.deepEqual(parseVersion("2.3"), { epoch: 0, upstream: "2.3", revision: "" });
  });

  it("orders tilde before the end, letters before symbols, digits numerically", () => {
    const cases: [string, string, number][] = [
      ["1.0~rc1", "1.0", -1],
      ["1.0~~", "1.0~", -1],
      ["1.0", "1.0+b1", -1],
      ["1.0a", "1.0+", -1],
      ["1.10", "1.9", 1],
      ["1:0.1", "2.0", 1],
      ["1.0-1", "1.0-01", 0],
      ["0:1.0", "1.0", 0],
      ["2.30-1", "2.3-1", 1],
    ];
    for (const [a, b, want] of cases) assert.equal(sign(compareVersions(a, b)), want, `${a} vs ${b}`);
  });

  it("applies relation operators", () => {
    assert.ok(versionSatisfies("3.11.2-1", ">=", "3.11.2"));
    assert.ok(versionSatisfies("3.11.2-1", "<<", "3.12~"));
    assert.ok(!versionSatisfies("3.11.2-1", "=", "3.11.2"));
    assert.ok(versionSatisfies("1.0", ">>", "1.0~"));
  });

  it("agrees with dpkg --compare-versions on 4000 pairs drawn from the real index (reads the host's apt lists)", () => {
    const versions = realVersions();
    assert.ok(
      versions.length > 1000,
      `only ${versions.length} versions in the apt lists; run apt-get update`,
    );
    const rand = lcg(20261124);
    const pairs: [string, string][] = [];
    // Random pairs catch gross errors; neighbours in sorted order catch the subtle ones.
    for (let i = 0; i < 2000; i++) {
      pairs.push([
        versions[Math.floor(rand() * versions.length)],
        versions[Math.floor(rand() * versions.length)],
      ]);
    }
    const sorted = [...versions].sort(compareVersions);
    const step = Math.max(1, Math.floor(sorted.length / 2000));
    for (let i = 0; i + 1 < sorted.length && pairs.length < 4000; i += step)
      pairs.push([sorted[i + 1], sorted[i]]);
    const want = dpkgSigns(pairs);
    const mismatches = pairs
      .map(([a, b], i) => ({ a, b, ours: sign(compareVersions(a, b)), dpkg: want[i] }))
      .filter((r) => r.ours !== r.dpkg);
    assert.deepEqual(mismatches.slice(0, 10), []);
    assert.equal(pairs.length, want.length);
  });
});
