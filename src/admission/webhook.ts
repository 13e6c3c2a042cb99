import { setTimeout as sleep } from "node:timers/promises";
import type { Decision } from "../policy/evaluate.js";
import type { ImageDecider } from "./decider.js";
import type { Outcome } from "./metrics.js";
import { RegistryNotAllowed } from "./registries.js";
import { type PodImage, podImages, type ReviewAnswer, type ReviewRequest } from "./review.js";

export interface WebhookOptions {
  /** Allow, with the reasons as warnings. */
  audit: boolean;
  /** What to answer when an image cannot be decided (not indexed and unreachable, too slow). */
  failurePolicy: "open" | "closed";
  /** Answer by then, whatever the registry does: below the webhook's timeoutSeconds. */
  deadlineMs: number;
  /** The time exemptions are checked against (tests set it). */
  now?: () => Date;
}

type Verdict =
  | { image: PodImage; decisions: Decision[] }
  | { image: PodImage; error: string }
  | { image: PodImage; refused: string };

async function verdictOf(decider: ImageDecider, image: PodImage, opts: WebhookOptions): Promise<Verdict> {
  const { deadlineMs } = opts;
  const timeout = new AbortController();
  try {
    const decided = decider.decide(image.image, opts.now?.()).then((decisions) => ({ image, decisions }));
    const late = sleep(deadlineMs, undefined, { signal: timeout.signal }).then(() => ({
      image,
      error: `could not be decided within ${deadlineMs / 1000} s (slow registry?)`,
    }));
    return await Promise.race([decided, late]);
  } catch (err) {
    if (err instanceof RegistryNotAllowed) return { image, refused: err.message };
    return { image, error: (err as Error).message.split("\n")[0] };
  } finally {
    timeout.abort();
  }
}

function reasons(v: Verdict): string[] {
  const where = `${v.image.container} ${v.image.image}`;
  if ("error" in v) return [`${where}: ${v.error}`];
  if ("refused" in v) return [`${where}: ${v.refused}`];
  return v.decisions.flatMap((d) => [
    ...d.violations.map((x) => `${where}: ${x.message}`),
    ...d.expired.map((e) => `${where}: ${e}`),
  ]);
}

/** The answer to one review, and the outcome the metrics count. */
export async function answerReview(
  decider: ImageDecider,
  request: ReviewRequest,
  opts: WebhookOptions,
): Promise<{ answer: ReviewAnswer; outcome: Outcome }> {
  const images = podImages(request.kind.kind, request.object);
  const verdicts = await Promise.all(images.map((i) => verdictOf(decider, i, opts)));
  const denied = verdicts.filter(
    (v) => "refused" in v || ("decisions" in v && v.decisions.some((d) => !d.allowed)),
  );
  const failed = verdicts.filter((v) => "error" in v);
  const notes = verdicts.flatMap((v) => ("decisions" in v ? v.decisions.flatMap((d) => d.expired) : []));
  const failClosed = failed.length > 0 && opts.failurePolicy === "closed";
  if (denied.length === 0 && !failClosed) {
    const warnings = [...failed.flatMap(reasons), ...notes];
    return { answer: { allowed: true, warnings }, outcome: failed.length > 0 ? "failed-open" : "allowed" };
  }
  const why = [...denied, ...(failClosed ? failed : [])].flatMap(reasons);
  if (opts.audit) return { answer: { allowed: true, warnings: why }, outcome: "warned" };
  const subject = `${request.kind.kind} ${request.namespace ? `${request.namespace}/` : ""}${request.name ?? "(unnamed)"}`;
  return {
    answer: { allowed: false, message: `strata: ${subject} denied: ${why.join("; ")}`, warnings: why },
    outcome: denied.length > 0 ? "denied" : "failed-closed",
  };
}
