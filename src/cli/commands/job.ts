import { stringify } from "yaml";
import { imageJobManifest } from "../../jobs/image-job.js";
import { StrataError } from "../../util/errors.js";
import { parseBytes, parseCpus, parseDuration } from "../../util/quantities.js";
import type { CommandDef } from "../command.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import type { Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";

interface JobFlags extends RegistryFlags {
  name: string;
  schedule?: string;
  parallelism?: string;
  completions?: string;
  backoffLimit?: string;
  deadline?: string;
  memory?: string;
  cpus?: string;
  platform?: string;
  json?: boolean;
}

function count(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,6}$/.test(value))
    throw new StrataError("USAGE", `${flag} ${value}: not a count`, {
      hint: `write ${flag} N, N from 0 to 999999`,
    });
  return Number(value);
}

async function jobManifest([image, args]: [string, string[]], flags: JobFlags, out: Output): Promise<void> {
  const manifest = await imageJobManifest(image, {
    name: flags.name,
    args,
    schedule: flags.schedule,
    parallelism: count(flags.parallelism, "--parallelism"),
    completions: count(flags.completions, "--completions"),
    backoffLimit: count(flags.backoffLimit, "--backoff-limit"),
    deadlineSeconds:
      flags.deadline === undefined
        ? undefined
        : Math.ceil(parseDuration(flags.deadline, "--deadline") / 1000),
    memoryBytes: flags.memory === undefined ? undefined : parseBytes(flags.memory, "--memory"),
    cpus: flags.cpus === undefined ? undefined : parseCpus(flags.cpus, "--cpus"),
    platform: flags.platform,
    registry: registryOptions(flags),
  });
  if (flags.json) out.json(manifest, { indent: 2 });
  else process.stdout.write(stringify(manifest));
}

const manifest: CommandDef<JobFlags, [string, string[]]> = {
  name: "manifest",
  summary: "print a batch/v1 Job (or CronJob with --schedule) naming the image by digest",
  arguments: [
    {
      name: "<image>",
      description: "the image in its registry: docker://REGISTRY/REPO:TAG, or REGISTRY/REPO:TAG",
    },
    {
      name: "[args...]",
      description: "arguments after --, given to the entrypoint instead of the image's cmd",
    },
  ],
  options: (cmd) =>
    withRegistryFlags(
      cmd
        .requiredOption("--name <name>", "the Job's name (and its container's)")
        .option("--schedule <cron>", "make a CronJob on this schedule ('0 3 * * *', @hourly)")
        .option("--parallelism <n>", "pods run at once")
        .option("--completions <n>", "successful pods needed")
        .option("--backoff-limit <n>", "retries before the Job fails")
        .option("--deadline <duration>", "activeDeadlineSeconds: the Job's time limit (90s, 5m, 1h)")
        .option("--memory <bytes>", "memory limit and request (256M, 1G)")
        .option("--cpus <n>", "CPU limit and request (1, 0.5)")
        .option(
          "--platform <platform>",
          "whose user to read from a multi-platform image (default: the host's)",
        )
        .option("--json", "print JSON instead of YAML"),
    ),
  examples: [
    "strata job manifest 127.0.0.1:5000/app:1 --name nightly --schedule '0 3 * * *' -- --full | kubectl apply -f -",
  ],
  handler: jobManifest,
};

export const command: CommandDef = {
  name: "job",
  summary: "Kubernetes Jobs and CronJobs that run an image by digest",
  examples: ["strata job manifest 127.0.0.1:5000/app:1 --name nightly --schedule '0 3 * * *'"],
  subcommands: [manifest],
};
