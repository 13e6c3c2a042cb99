import { type ScanSources, withAdvisories } from "../scan/advisory-sources.js";
import { readVexFiles } from "../vex/read.js";
import { scanLocation } from "../vex/scan-locations.js";
import { type Decision, evaluatePolicy } from "./evaluate.js";
import { locationSignatureFacts, scannedImageFacts } from "./facts.js";
import { loadPolicy } from "./policy.js";

/** `strata check`: each image at each location scanned and decided by the policy file's rules. */
export async function checkImages(
  locations: string[],
  policyPath: string,
  sources: ScanSources,
  vexFiles: string[],
): Promise<Decision[]> {
  const policy = await loadPolicy(policyPath);
  const vex = await readVexFiles(vexFiles);
  const decisions: Decision[] = [];
  await withAdvisories(sources, async (advisories) => {
    for (const location of locations) {
      const { imageLocation, scans } = await scanLocation(location, advisories, sources, vex);
      const signed = await locationSignatureFacts(imageLocation, policy.require, sources.registry);
      for (const scan of scans)
        decisions.push(evaluatePolicy(policy, { ...scannedImageFacts(scan, imageLocation), ...signed }));
    }
  });
  return decisions;
}
