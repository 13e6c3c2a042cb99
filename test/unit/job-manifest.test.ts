import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ImageDecider } from "../../src/admission/decider.js";
import { podImages } from "../../src/admission/review.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { jobManifest } from "../../src/jobs/job-manifest.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { parsePolicy } from "../../src/policy/policy.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import { kubernetesValidator } from "../helpers/kubernetes-schema.js";

const DIGEST = `sha256:${"a".repeat(64)}`;
const base = { name: "nightly", image: `registry.example/jobs/app@${DIGEST}`, args: ["--full"] };

interface Container {
  image: string;
  imagePullPolicy: string;
  args?: string[];
  securityContext: Record<string, unknown>;
  resources: { limits: Record<string, string> };
}
type Pod = { spec: { securityContext: Record<string, unknown>; containers: Container[] } };

describe("strata job manifest", { timeout: 60_000 }, () => {
  it("makes a batch/v1 Job naming the image by digest, as the image's non-root user, read-only, with limits", () => {
    const job = jobManifest({
      ...base,
      user: { uid: 65532, gid: 65532 },
      memoryBytes: 256 << 20,
      cpus: 0.5,
      backoffLimit: 2,
      deadlineSeconds: 300,
    }) as {
      apiVersion: string;
      kind: string;
      spec: { backoffLimit: number; activeDeadlineSeconds: number; template: Pod };
    };
    assert.equal(job.apiVersion, "batch/v1");
    assert.equal(job.kind, "Job");
    assert.equal(job.spec.backoffLimit, 2);
    assert.equal(job.spec.activeDeadlineSeconds, 300);
    const pod = job.spec.template.spec;
    const [c] = pod.containers;
    assert.equal(c.image, base.image);
    assert.equal(c.imagePullPolicy, "IfNotPresent");
    assert.deepEqual(c.args, ["--full"]);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.runAsNonRoot, true);
    assert.equal(c.securityContext.runAsUser, 65532);
    assert.deepEqual(c.resources.limits, { memory: String(256 << 20), cpu: "500m" });
    assert.equal(pod.securityContext.runAsNonRoot, true);
  });

  it("an image whose user is root gets runAsNonRoot: false", () => {
    const job = jobManifest({ ...base, user: { uid: 0, gid: 0 } }) as { spec: { template: Pod } };
    assert.equal(job.spec.template.spec.containers[0].securityContext.runAsNonRoot, false);
  });

  it("makes a CronJob with --schedule, and refuses a bad schedule or name", () => {
    const cron = jobManifest({ ...base, user: { uid: 1 }, schedule: "0 3 * * *" }) as {
      kind: string;
      spec: { schedule: string; jobTemplate: { spec: { template: Pod } } };
    };
    assert.equal(cron.kind, "CronJob");
    assert.equal(cron.spec.schedule, "0 3 * * *");
    assert.equal(cron.spec.jobTemplate.spec.template.spec.containers[0].image, base.image);
    assert.throws(
      () => jobManifest({ ...base, user: { uid: 1 }, schedule: "every day" }),
      /not a cron schedule/,
    );
    assert.throws(() => jobManifest({ ...base, name: "Nightly_Job", user: { uid: 1 } }), /not a Job name/);
    assert.throws(
      () => jobManifest({ ...base, name: "a".repeat(53), user: { uid: 1 }, schedule: "@daily" }),
      /not a CronJob name/,
    );
  });

  it("the Job and the CronJob are valid batch/v1 by the Kubernetes OpenAPI schema (vendored), unknown fields refused", () => {
    const full = { ...base, user: { uid: 65532, gid: 65532 }, memoryBytes: 256 << 20, cpus: 0.5 };
    const opts = { ...full, parallelism: 2, completions: 4, backoffLimit: 1, deadlineSeconds: 60 };
    for (const [kind, manifest] of [
      ["Job", jobManifest(opts)],
      ["CronJob", jobManifest({ ...opts, schedule: "*/15 * * * *" })],
    ] as const) {
      const validate = kubernetesValidator(kind);
      assert.equal(manifest.kind, kind);
      assert.ok(validate(manifest), JSON.stringify(validate.errors));
    }
    // The validator is not a rubber stamp: a wrong type and an unknown field are refused.
    const validate = kubernetesValidator("Job");
    const job = jobManifest(full) as { spec: { template: Pod } };
    job.spec.template.spec.containers[0].securityContext.runAsUser = "65532";
    assert.equal(validate(job), false);
    const misspelt = jobManifest(full) as { spec: Record<string, unknown> };
    misspelt.spec.backofLimit = 2;
    assert.equal(validate(misspelt), false);
  });

  describe("the admission webhook's own decision", () => {
    let index: FleetIndex;
    let image: string;
    before(async () => {
      const dir = await tempDir("job-admission");
      index = await FleetIndex.open(join(dir, "index.db"));
      const { image: built } = await strataImage([{ name: "base-files", version: "12.4+deb12u11" }]);
      const digest = imageDescriptor(built).digest;
      await index.add(built, "test", [
        { registry: "registry.example", repository: "jobs/app", tag: "1", topDigest: digest },
      ]);
      image = `registry.example/jobs/app@${digest}`;
    });
    after(() => index.close());

    it("accepts the pod template of the Job and of the CronJob (pinned by digest, built by strata)", async () => {
      const policy = parsePolicy("require: { built-by-strata: true, digest: true }\n", "policy.yaml");
      const decider = new ImageDecider({ policy, index, indexMissing: false });
      for (const schedule of [undefined, "@hourly"]) {
        const manifest = jobManifest({ ...base, image, user: { uid: 65532 }, schedule });
        const images = podImages(manifest.kind, manifest);
        assert.deepEqual(images, [{ container: "containers[0]", image }]);
        const decisions = await decider.decide(image);
        assert.ok(decisions.length > 0 && decisions.every((d) => d.allowed), JSON.stringify(decisions));
      }
    });
  });
});
