import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { hostDebianArch } from "../../src/debian/sources.js";
import { resolveSpec } from "../../src/lock/resolve.js";
import { parseSpec } from "../../src/spec/spec.js";

/**
 * apt's own answer for a package set on an empty system: `apt-get install -s
 * --no-install-recommends` with an empty dpkg status file, from the host's sources, for `arch`.
 * For a foreign architecture apt gets a private list directory and downloads that arch's indexes.
 */
function aptSimulation(packages: string[], arch: string): Set<string> {
  const dir = mkdtempSync(join(tmpdir(), "strata-apt-"));
  const status = join(dir, "status");
  writeFileSync(status, "");
  const options = ["-o", `Dir::State::status=${status}`, "-o", "APT::Install-Recommends=false"];
  if (arch !== hostDebianArch()) {
    mkdirSync(join(dir, "lists", "partial"), { recursive: true });
    mkdirSync(join(dir, "cache", "archives", "partial"), { recursive: true });
    options.push(
      "-o",
      `APT::Architecture=${arch}`,
      "-o",
      `APT::Architectures=${arch}`,
      "-o",
      `Dir::State::Lists=${join(dir, "lists")}`,
      "-o",
      `Dir::Cache=${join(dir, "cache")}`,
    );
    execFileSync("apt-get", [...options, "-qq", "update"], { stdio: ["ignore", "ignore", "inherit"] });
  }
  const out = execFileSync("apt-get", [...options, "install", "-s", "--no-install-recommends", ...packages], {
    encoding: "utf8",
  });
  return new Set([...out.matchAll(/^Inst (\S+) \((\S+)/gm)].map((m) => `${m[1]}=${m[2]}`));
}

async function strataSet(packages: string[], arch: string): Promise<Set<string>> {
  const spec = parseSpec(
    `archs: [${arch}]\npackages: [${packages.join(", ")}]\nexclude: []\n`,
    "/virtual/strata.yaml",
  );
  const lock = await resolveSpec(spec, {});
  return new Set(lock.packages.map((p) => `${p.name}=${p.version}`));
}

function difference(a: Set<string>, b: Set<string>): string[] {
  return [...a].filter((x) => !b.has(x)).sort();
}

describe("resolution agrees with apt's simulation on an empty system (network: host's mirror)", () => {
  const cases: [string[], string][] = [
    [["python3"], "amd64"],
    [["curl"], "amd64"],
    [["nginx"], "amd64"],
    [["perl"], "amd64"],
    [["git"], "amd64"],
    [["openjdk-17-jre-headless"], "amd64"],
    [["postgresql", "ca-certificates", "tzdata"], "amd64"],
    [["python3"], "arm64"],
  ];
  for (const [packages, arch] of cases) {
    it(`${packages.join(" ")} for ${arch}`, async () => {
      // strata adds base-files to every image (for /etc/os-release); apt is asked for it too.
      const [ours, apts] = [
        await strataSet(packages, arch),
        aptSimulation([...packages, "base-files"], arch),
      ];
      assert.ok(apts.size > 0, "apt installed nothing: is the host's apt list current?");
      assert.deepEqual(
        { onlyStrata: difference(ours, apts), onlyApt: difference(apts, ours) },
        { onlyStrata: [], onlyApt: [] },
      );
    });
  }
});
