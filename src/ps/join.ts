import type { Finding } from "../advisories/match.js";
import type { FleetIndex } from "../fleet/fleet-index.js";
import type { IndexedImage, IndexedPackage } from "../fleet/lookups.js";
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

export async function joinContainers(
  index: FleetIndex,
  vulnerabilities: Vulnerabilities,
  containers: RunningContainer[],
): Promise<ContainerReport[]> {
  const running = await index.running(
    containers.map((c) => ({ digests: c.imageDigests, diffIds: c.diffIds })),
  );
  // Each image's vulnerabilities are judged once, however many containers run it, all images together.
  const images = new Map(running.flatMap((r) => (r ? [[r.image.digest, r.packages] as const] : [])));
  const judged = await vulnerabilities.ofImages([...images.values()]);
  const findings = new Map([...images.keys()].map((digest, i) => [digest, judged[i]]));
  return containers.map((container, i) => {
    const r = running[i];
    if (r === undefined) return { container, packages: [], findings: [] };
    return {
      container,
      match: { image: r.image, by: r.by },
      packages: r.packages,
      findings: findings.get(r.image.digest) ?? [],
    };
  });
}
