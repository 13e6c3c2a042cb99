import { checkImages } from "../../policy/check-images.js";
import type { Decision } from "../../policy/evaluate.js";
import { vexReason } from "../../scan/report.js";
import type { CommandDef } from "../command.js";
import { ExitStatus } from "../exit-status.js";
import type { Output } from "../output.js";
import { type ScanInputs, scanSources, withScanInputs } from "../scan-inputs.js";

interface CheckFlags extends ScanInputs {
  policy: string;
  json?: boolean;
}

/** The human verdict: one line, then each reason, exemption and expired exemption. */
function decisionLines(d: Decision): string[] {
  return [
    `${d.reference}: ${d.allowed ? "pass" : "FAIL"}`,
    ...d.violations.map((v) => `  denied: ${v.message}`),
    ...d.exempted.map((v) => `  exempted: ${v.message} ("${v.reason}", until ${v.expires})`),
    ...d.expired.map((e) => `  note: ${e}`),
    ...(d.unknown ? [`  note: ${d.unknown}`] : []),
    ...(d.suppressed ?? []).map(
      (f) => `  suppressed by VEX: ${f.id} in ${f.package} ${f.version} (${vexReason(f)})`,
    ),
  ];
}

async function check([locations]: [string[]], opts: CheckFlags, out: Output): Promise<void> {
  const decisions = await checkImages(locations, opts.policy, scanSources(opts), opts.vex ?? []);
  if (opts.json) out.json({ decisions });
  else process.stdout.write(`${decisions.flatMap(decisionLines).join("\n")}\n`);
  if (decisions.some((d) => !d.allowed)) throw new ExitStatus(1);
}

export const command: CommandDef<CheckFlags, [string[]]> = {
  name: "check",
  summary: "check images against a policy file (README: Policy file): exit 0 when they pass, 1 when not",
  arguments: [
    {
      name: "<image...>",
      description: "images in any image location: a layout, an archive, oci:DIR, docker://REF ...",
    },
  ],
  options: (cmd) =>
    withScanInputs(
      cmd
        .requiredOption("--policy <file>", "the policy YAML")
        .option("--json", "print the decisions as JSON on stdout"),
    ),
  notes: "\nExit status: 0 every image passes, 1 one fails (or an error), 2 a usage error.",
  examples: ["strata check reg.example/team/app:1 --policy policy.yaml"],
  handler: check,
};
