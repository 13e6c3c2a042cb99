import type { Finding } from "../advisories/match.js";
import type { FleetIndex } from "../fleet/fleet-index.js";
import type { IndexedImage, IndexedPackage } from "../fleet/lookups.js";
import { imageByDigest, layerStack } from "../serve/fleet-data.js";
import type { Vulnerabilities } from "../serve/vulnerabilities.js";
import type { RunningContainer } from "./container.js";

/**
 * Running containers joined with the fleet index: the indexed image each one runs (by manifest
 * digest, config digest, or the whole list of its layers' diff_ids), the packages it holds and
 * which of them are vulnerable.
 */

export interface ImageMatch {
  image: IndexedImage;
  /** What the runtime's digest named: a manifest, a config (image ID), or the layers' diff_ids. */
  by: "manifest" | "config" | "diff_ids";
}

export interface ContainerReport {
  container: RunningContainer;
  /** Absent when the index holds no image of this container. */
  match?: ImageMatch;
  packages: IndexedPackage[];
  findings: Finding[];
}

async function byDigests(index: FleetIndex, digests: string[]): Promise<ImageMatch | undefined> {
  for (const digest of digests) {
    const found = (await index.byDigest(digest)).find((m) => m.match !== "layer");
    if (found) return { image: found.image, by: found.match as "manifest" | "config" };
  }
  return undefined;
}

/** The image whose layers are exactly `diffIds`, bottom first. */
async function byDiffIds(index: FleetIndex, diffIds: string[]): Promise<ImageMatch | undefined> {
  if (diffIds.length === 0) return undefined;
  const holding = (await index.byDigest(diffIds[diffIds.length - 1])).filter((m) => m.match === "layer");
  for (const { image } of holding) {
    const row = await imageByDigest(index, image.digest);
    const stack = row === undefined ? [] : await layerStack(index, row);
    if (stack.length === diffIds.length && stack.every((l, i) => l.diffId === diffIds[i])) {
      return { image, by: "diff_ids" };
    }
  }
  return undefined;
}

export async function joinContainers(
  index: FleetIndex,
  vulnerabilities: Vulnerabilities,
  containers: RunningContainer[],
): Promise<ContainerReport[]> {
  const seen = new Map<string, Omit<ContainerReport, "container">>();
  const out: ContainerReport[] = [];
  for (const container of containers) {
    const key = [...container.imageDigests, ...container.diffIds].join(" ");
    let known = seen.get(key);
    if (known === undefined) {
      const match =
        (await byDigests(index, container.imageDigests)) ?? (await byDiffIds(index, container.diffIds));
      const packages = match ? await index.packagesOf(match.image.digest) : [];
      const findings = match ? await vulnerabilities.ofPackages(packages) : [];
      known = { ...(match ? { match } : {}), packages, findings };
      seen.set(key, known);
    }
    out.push({ container, ...known });
  }
  return out;
}
