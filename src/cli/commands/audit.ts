import type { PodAudit } from "../../admission/audit.js";
import { auditPodList } from "../../admission/audit-pod-list.js";
import { type RegistryScopeFlags, withRegistryScopeFlags } from "../../admission/registries.js";
import type { CommandDef } from "../command.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import { ExitStatus } from "../exit-status.js";
import { type IndexFlags, withIndexFlag } from "../index-flags.js";
import type { Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import { collect } from "./common.js";

interface AuditFlags extends IndexFlags, RegistryFlags, RegistryScopeFlags {
  pods: string;
  policy: string;
  vex?: string[];
}

/** The pods' lines: each rejected one with its reasons, notes of what nothing covers, and the count. */
function auditLines(audits: PodAudit[]): string[] {
  const rejected = audits.filter((a) => a.rejected);
  const lines = rejected.flatMap((a) => [
    `${a.namespace}/${a.name}: rejected`,
    ...a.reasons.map((r) => `  ${r}`),
  ]);
  // Allowed is not clean where nothing covers the image's release: said, pod by pod.
  for (const a of audits.filter((p) => p.unknown.length > 0))
    lines.push(...a.unknown.map((u) => `${a.namespace}/${a.name}: note: ${u}`));
  lines.push(`${rejected.length} of ${audits.length} running pods would be rejected today`);
  return lines;
}

async function audit(_: [], opts: AuditFlags, out: Output): Promise<void> {
  const audits = await auditPodList({ ...opts, registry: registryOptions(opts) });
  if (opts.json) out.json({ pods: audits });
  else process.stdout.write(`${auditLines(audits).join("\n")}\n`);
  if (audits.some((a) => a.rejected)) throw new ExitStatus(1);
}

export const command: CommandDef<AuditFlags, []> = {
  name: "audit",
  summary: "which running pods the policy rejects today (advisories change after admission)",
  options: (cmd) =>
    withIndexFlag(
      withRegistryScopeFlags(
        withRegistryFlags(
          cmd
            .requiredOption("--pods <file|->", "the output of kubectl get pods -A -o json (- for stdin)")
            .requiredOption("--policy <file>", "the policy YAML (README: Policy file)")
            .option("--json", "print every pod's verdict as JSON on stdout")
            .option(
              "--vex <file>",
              "an OpenVEX file whose not_affected/fixed statements suppress findings; repeatable",
              collect,
            ),
        ),
      ),
    ),
  notes: "\nExit status: 0 no running pod is rejected, 1 some are (or an error), 2 a usage error.",
  examples: ["kubectl get pods -A -o json | strata audit --pods - --policy policy.yaml"],
  handler: audit,
};
