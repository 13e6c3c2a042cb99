import type { Decision } from "../policy/evaluate.js";
import type { ImageDecider } from "./decider.js";
import type { RunningPod } from "./pods.js";

/** What the policy says today about one running pod's images. */
export interface PodAudit {
  namespace: string;
  name: string;
  rejected: boolean;
  reasons: string[];
  /** Images whose vulnerabilities are unknown (nothing covers their release), with why. */
  unknown: string[];
}

/** Judges every running pod's images as the webhook would admit them today (advisories change). */
export async function auditPods(
  decider: ImageDecider,
  pods: RunningPod[],
  now = new Date(),
): Promise<PodAudit[]> {
  const out: PodAudit[] = [];
  for (const pod of pods) {
    const reasons: string[] = [];
    const unknown: string[] = [];
    for (const image of pod.images) {
      let decisions: Decision[];
      try {
        // What runs is judged (its digest), named as the pod spec names it (a tag is not pinned).
        decisions = await decider.decide(image.image, now, undefined, image.running);
      } catch (err) {
        reasons.push(
          `${image.container} ${image.image}: cannot be decided (${(err as Error).message.split("\n")[0]})`,
        );
        continue;
      }
      for (const d of decisions) {
        reasons.push(...d.violations.map((v) => `${image.container} ${image.image}: ${v.message}`));
        if (d.unknown) unknown.push(`${image.container} ${image.image}: ${d.unknown}`);
      }
    }
    out.push({ namespace: pod.namespace, name: pod.name, rejected: reasons.length > 0, reasons, unknown });
  }
  return out;
}
