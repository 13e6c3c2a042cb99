import { StrataError } from "../util/errors.js";

/**
 * A Kubernetes `batch/v1` Job, or a CronJob with a schedule, that runs an image named by digest
 * (so `imagePullPolicy: IfNotPresent` is safe: the bytes cannot change under the name), as the
 * image's user (`runAsNonRoot` unless it is 0), with a read-only root and an emptyDir /tmp, as
 * `strata run` runs it, and resources from the limits given.
 */

export interface JobManifestOptions {
  name: string;
  /** `registry/repository@sha256:...` */
  image: string;
  user: { uid: number; gid?: number };
  args: string[];
  schedule?: string;
  parallelism?: number;
  completions?: number;
  backoffLimit?: number;
  deadlineSeconds?: number;
  memoryBytes?: number;
  cpus?: number;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** A CronJob's name gets 11 characters of suffix for its Jobs, so it is at most 52. */
const MAX_NAME = { Job: 63, CronJob: 52 };
const CRON_FIELD = /^[0-9*,/\-A-Za-z?]+$/;
const CRON_MACROS = new Set([
  "@yearly",
  "@annually",
  "@monthly",
  "@weekly",
  "@daily",
  "@midnight",
  "@hourly",
]);

function usage(message: string, hint: string): StrataError {
  return new StrataError("USAGE", message, { hint });
}

export function checkJobName(name: string, kind: "Job" | "CronJob"): void {
  if (!DNS_LABEL.test(name) || name.length > MAX_NAME[kind]) {
    throw usage(
      `--name ${name.slice(0, 80)}: not a ${kind} name`,
      `use lowercase letters, digits and '-', at most ${MAX_NAME[kind]}`,
    );
  }
}

export function checkSchedule(schedule: string): void {
  const fields = schedule.trim().split(/\s+/);
  if (CRON_MACROS.has(schedule.trim()) || (fields.length === 5 && fields.every((f) => CRON_FIELD.test(f))))
    return;
  throw usage(
    `--schedule ${schedule.slice(0, 80)}: not a cron schedule`,
    "write five fields ('0 3 * * *': at 03:00) or @hourly, @daily ...",
  );
}

function resources(opts: JobManifestOptions) {
  const amounts: Record<string, string> = {};
  if (opts.memoryBytes !== undefined) amounts.memory = String(opts.memoryBytes);
  if (opts.cpus !== undefined) amounts.cpu = `${Math.max(1, Math.round(opts.cpus * 1000))}m`;
  return Object.keys(amounts).length === 0 ? undefined : { limits: amounts, requests: amounts };
}

function podTemplate(opts: JobManifestOptions, labels: Record<string, string>) {
  const nonRoot = opts.user.uid !== 0;
  const identity = {
    runAsUser: opts.user.uid,
    ...(opts.user.gid === undefined ? {} : { runAsGroup: opts.user.gid }),
    runAsNonRoot: nonRoot,
  };
  const limits = resources(opts);
  const container = {
    name: opts.name.slice(0, 63),
    image: opts.image,
    imagePullPolicy: "IfNotPresent",
    ...(opts.args.length > 0 ? { args: opts.args } : {}),
    securityContext: { ...identity, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
    ...(limits ? { resources: limits } : {}),
    volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
  };
  return {
    metadata: { labels },
    spec: {
      restartPolicy: "Never",
      securityContext: identity,
      containers: [container],
      volumes: [{ name: "tmp", emptyDir: {} }],
    },
  };
}

function jobSpec(opts: JobManifestOptions, labels: Record<string, string>) {
  return {
    ...(opts.parallelism === undefined ? {} : { parallelism: opts.parallelism }),
    ...(opts.completions === undefined ? {} : { completions: opts.completions }),
    ...(opts.backoffLimit === undefined ? {} : { backoffLimit: opts.backoffLimit }),
    ...(opts.deadlineSeconds === undefined ? {} : { activeDeadlineSeconds: opts.deadlineSeconds }),
    template: podTemplate(opts, labels),
  };
}

export function jobManifest(opts: JobManifestOptions) {
  const kind = opts.schedule === undefined ? "Job" : "CronJob";
  checkJobName(opts.name, kind);
  const labels = { "app.kubernetes.io/name": opts.name, "app.kubernetes.io/managed-by": "strata" };
  const metadata = { name: opts.name, labels };
  if (opts.schedule === undefined)
    return { apiVersion: "batch/v1", kind, metadata, spec: jobSpec(opts, labels) };
  checkSchedule(opts.schedule);
  return {
    apiVersion: "batch/v1",
    kind,
    metadata,
    spec: {
      schedule: opts.schedule,
      concurrencyPolicy: "Forbid",
      jobTemplate: { metadata: { labels }, spec: jobSpec(opts, labels) },
    },
  };
}
