import { InvalidArgumentError, Option } from "commander";
import { admissionManifests } from "../../admission/manifests.js";
import { withRegistryScopeFlags } from "../../admission/registries.js";
import { ADMISSION_LISTEN, type AdmissionRequest, readPem, startAdmission } from "../../admission/start.js";
import { StrataError } from "../../util/errors.js";
import type { CommandDef } from "../command.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import { withIndexFlag } from "../index-flags.js";
import type { Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import { untilStopped } from "../until-stopped.js";
import { type CommonOptions, collect } from "./common.js";

/** The flags are the request, less the registry options they make. */
type ServeFlags = CommonOptions & RegistryFlags & Omit<AdmissionRequest, "registry">;

/** --listen: HOST:PORT, checked before anything starts. */
function listenAddress(value: string): string {
  const m = ADMISSION_LISTEN.exec(value);
  if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError("It must be HOST:PORT, e.g. 0.0.0.0:8443.");
  return value;
}

function imageCount(value: string): number {
  const n = /^\d{1,7}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000)
    throw new InvalidArgumentError("It must be a whole number from 1 to 1,000,000.");
  return n;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 30)
    throw new InvalidArgumentError("It must be seconds, more than 0 and at most 30.");
  return n;
}

async function serve(opts: ServeFlags, out: Output): Promise<void> {
  const running = await startAdmission({ ...opts, registry: registryOptions(opts) }, (line) =>
    out.line(line),
  );
  out.line(
    `strata admission: listening on ${running.url} (POST /validate, GET /healthz, GET /metrics), index ${running.where}`,
  );
  await untilStopped();
  await running.close();
}

interface ManifestsFlags {
  caFile: string;
  image: string;
  name: string;
  namespace: string;
  index?: string;
  allowRegistry?: string[];
  audit?: boolean;
  failurePolicy: "open" | "closed";
  timeout: number;
}

async function manifests(_: [], opts: ManifestsFlags): Promise<void> {
  const caPem = (await readPem(opts.caFile, "--ca-file")).toString("utf8");
  if (!caPem.includes("-----BEGIN CERTIFICATE-----"))
    throw new StrataError("TLS", `--ca-file ${opts.caFile}: not a PEM certificate`, {
      hint: "give the CA certificate in PEM (-----BEGIN CERTIFICATE-----)",
    });
  process.stdout.write(
    admissionManifests({
      name: opts.name,
      namespace: opts.namespace,
      image: opts.image,
      caPem,
      failurePolicy: opts.failurePolicy,
      timeoutSeconds: Math.round(opts.timeout),
      audit: Boolean(opts.audit),
      index: opts.index,
      allowRegistries: opts.allowRegistry,
    }),
  );
}

const SERVE_EXAMPLE = "strata admission serve --policy policy.yaml --tls-cert tls.crt --tls-key tls.key";

const serveCommand: CommandDef<ServeFlags, []> = {
  name: "serve",
  summary: "serve the webhook over HTTPS: POST /validate (AdmissionReview v1), GET /healthz, GET /metrics",
  options: (cmd) =>
    withIndexFlag(
      withRegistryScopeFlags(
        withRegistryFlags(
          cmd
            .requiredOption("--policy <file>", "the policy YAML (README: Policy file)")
            .requiredOption("--tls-cert <pem>", "the serving certificate (chain) in PEM")
            .requiredOption("--tls-key <pem>", "its private key in PEM")
            .option("--listen <host:port>", "where to listen", listenAddress, "127.0.0.1:8443")
            .option("--audit", "allow everything, with the policy's reasons as warnings")
            .option(
              "--release <codename>",
              "the Debian release of images whose base-files does not say (bookworm)",
            )
            .addOption(
              new Option("--failure-policy <policy>", "when an image cannot be decided")
                .choices(["open", "closed"])
                .default("closed"),
            )
            .option("--timeout <seconds>", "answer within this long (below timeoutSeconds)", seconds, 8)
            .option(
              "--max-images <n>",
              "images whose facts and verdicts are kept in memory at most",
              imageCount,
              20_000,
            )
            .option("--no-precompute", "do not read the indexed images' facts ahead of their first review")
            .option(
              "--vex <file>",
              "an OpenVEX file whose not_affected/fixed statements suppress findings; repeatable",
              collect,
            ),
        ),
        "contact only this registry (repeatable; none without it); deny the others",
      ),
    ),
  examples: [SERVE_EXAMPLE],
  handler: (_, opts, out) => serve(opts, out),
};

const manifestsCommand: CommandDef<ManifestsFlags, []> = {
  name: "manifests",
  summary: "print the ValidatingWebhookConfiguration, Service and Deployment to kubectl apply",
  options: (cmd) =>
    cmd
      .requiredOption("--ca-file <pem>", "the CA that signed the serving certificate (its caBundle)")
      .requiredOption("--image <ref>", "an image that runs strata (its entrypoint: strata)")
      .option("--name <name>", "the name of the webhook, Service and Deployment", "strata-admission")
      .option("--namespace <ns>", "the namespace they run in", "strata-system")
      .option("--index <url>", "the index the webhook reads (postgres://... shared with the indexers)")
      .option(
        "--allow-registry <host>",
        "a registry the webhook may contact (repeatable; none without it)",
        collect,
      )
      .option("--audit", "warn only")
      .addOption(
        new Option("--failure-policy <policy>", "open (Ignore) or closed (Fail)")
          .choices(["open", "closed"])
          .default("closed"),
      )
      .option("--timeout <seconds>", "the webhook's timeoutSeconds (1-30)", seconds, 10),
  examples: ["strata admission manifests --ca-file ca.pem --image reg.example/strata:1 | kubectl apply -f -"],
  handler: manifests,
};

export const command: CommandDef = {
  name: "admission",
  summary: "a Kubernetes validating admission webhook that applies a policy",
  examples: [SERVE_EXAMPLE],
  subcommands: [serveCommand, manifestsCommand],
};
