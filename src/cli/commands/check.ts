import type { Command } from "commander";
import { type Decision, evaluatePolicy } from "../../policy/evaluate.js";
import { homeSignatureFacts, scannedImageFacts } from "../../policy/facts.js";
import { loadPolicy } from "../../policy/policy.js";
import { vexReason } from "../../scan/report.js";
import { readVexFiles } from "../../vex/read.js";
import { registryOptions } from "../destination.js";
import { ExitStatus } from "../exit-status.js";
import { examples } from "../help.js";
import { type ScanInputs, scanLocation, withAdvisories, withScanInputs } from "../scan-inputs.js";

interface CheckFlags extends ScanInputs {
  policy: string;
  json?: boolean;
}

/** The human verdict: one line, then each reason, exemption and expired exemption. */
export function decisionLines(d: Decision): string[] {
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

export function registerCheck(program: Command): void {
  withScanInputs(
    program
      .command("check")
      .description(
        "check images against a policy file (README: Policy file): exit 0 when they pass, 1 when not",
      )
      .argument("<image...>", "images in any home: a layout, an archive, oci:DIR, docker://REF ...")
      .requiredOption("--policy <file>", "the policy YAML")
      .option("--json", "print the decisions as JSON on stdout")
      .addHelpText(
        "after",
        "\nExit status: 0 every image passes, 1 one fails (or an error), 2 a usage error.",
      ),
  )
    .addHelpText("after", examples("strata check reg.example/team/app:1 --policy policy.yaml"))
    .action(async (locations: string[], opts: CheckFlags) => {
      const policy = await loadPolicy(opts.policy);
      const vex = await readVexFiles(opts.vex ?? []);
      const decisions: Decision[] = [];
      await withAdvisories(opts, async (advisories) => {
        for (const location of locations) {
          const { home, scans } = await scanLocation(location, advisories, opts, vex);
          const signed = await homeSignatureFacts(home, policy.require, registryOptions(opts));
          for (const scan of scans)
            decisions.push(evaluatePolicy(policy, { ...scannedImageFacts(scan, home), ...signed }));
        }
      });
      const text = opts.json ? JSON.stringify({ decisions }) : decisions.flatMap(decisionLines).join("\n");
      process.stdout.write(`${text}\n`);
      if (decisions.some((d) => !d.allowed)) throw new ExitStatus(1);
    });
}
