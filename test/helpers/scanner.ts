import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { buildExample, exampleCopy } from "./examples.js";
import { type Component, parseDebPurl, trivyComponents } from "./trivy.js";

/** Trivy (the build cdxgen ships) run on strata's python3 example: what a scanner sees of an image. */

const exec = promisify(execFile);

const IS_ROOT = process.getuid?.() === 0;

export interface LockedPackage {
  name: string;
  version: string;
  arch: string;
  architecture: string;
}

export { parseDebPurl };

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

  const components = await trivyComponents(rootfs, work);
  return { work, rootfs, locked, components };
}
