import { parseReference } from "../oci/reference.js";
import type { Decision } from "../policy/evaluate.js";
import { vexReason } from "../scan/report.js";
import { type DeciderOptions, type FetchDeadline, ImageDecider } from "./decider.js";
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

/** A pod has a few images; a review naming more is refused unread, not turned into fetches. */
export const MAX_IMAGES_PER_REVIEW = 64;

/**
 * The decider the webhook answers with: it decides from what the index holds and indexes nothing
 * (that is `index add|sync`'s job), and with no --allow-registry it contacts no registry at all, so
 * a pod cannot point it at a third party.
 */
export function webhookDecider(opts: Omit<DeciderOptions, "indexMissing">): ImageDecider {
  return new ImageDecider({
    ...opts,
    indexMissing: false,
    scope: { ...opts.scope, fetchWithoutAllowList: false },
  });
}

type Verdict =
  | { image: PodImage; decisions: Decision[] }
  | { image: PodImage; error: string }
  | { image: PodImage; refused: string };

/**
 * The verdict on one image by the review's deadline (`deadline` aborts then, cancelling its
 * fetches). A name that is no image reference is refused: it cannot be pulled, whatever the policy.
 */
async function verdictOf(
  decider: ImageDecider,
  image: PodImage,
  opts: WebhookOptions,
  deadline: FetchDeadline,
): Promise<Verdict> {
  try {
    parseReference(image.image);
  } catch (err) {
    return { image, refused: (err as Error).message.split("\n")[0] };
  }
  const late = new Promise<Verdict>((resolve) => {
    const answer = () =>
      resolve({ image, error: `could not be decided within ${opts.deadlineMs / 1000} s (slow registry?)` });
    if (deadline.signal.aborted) answer();
    else deadline.signal.addEventListener("abort", answer, { once: true });
  });
  try {
    const decisions = decider.decide(image.image, opts.now?.(), deadline);
    return await Promise.race([decisions.then((d) => ({ image, decisions: d })), late]);
  } catch (err) {
    if (err instanceof RegistryNotAllowed) return { image, refused: err.message };
    return { image, error: (err as Error).message.split("\n")[0] };
  }
}

/** Every image's verdict, or none fetched when the review names more images than a pod would. */
async function verdictsOf(
  decider: ImageDecider,
  images: PodImage[],
  opts: WebhookOptions,
): Promise<Verdict[]> {
  if (images.length > MAX_IMAGES_PER_REVIEW) {
    const image = { container: "spec", image: `${images.length} images` };
    return [
      { image, refused: `more than ${MAX_IMAGES_PER_REVIEW} images in one review; none was looked at` },
    ];
  }
  const deadline = new AbortController();
  const at = Date.now() + opts.deadlineMs;
  const timer = setTimeout(() => deadline.abort(), opts.deadlineMs);
  try {
    return await Promise.all(images.map((i) => verdictOf(decider, i, opts, { signal: deadline.signal, at })));
  } finally {
    clearTimeout(timer);
    // Nothing this review started outlives its answer.
    deadline.abort();
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
  const verdicts = await verdictsOf(decider, podImages(request.kind.kind, request.object), opts);
  const denied = verdicts.filter(
    (v) => "refused" in v || ("decisions" in v && v.decisions.some((d) => !d.allowed)),
  );
  const failed = verdicts.filter((v) => "error" in v);
  const notes = verdicts.flatMap((v) =>
    "decisions" in v
      ? v.decisions.flatMap((d) => [
          ...d.expired,
          ...(d.unknown ? [`${v.image.container} ${v.image.image}: ${d.unknown}`] : []),
          ...(d.suppressed ?? []).map(
            (f) =>
              `${v.image.container} ${v.image.image}: ${f.id} in ${f.package} suppressed by VEX (${vexReason(f)})`,
          ),
        ])
      : [],
  );
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
