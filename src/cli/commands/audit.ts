import type { Command } from "commander";
import { auditPods } from "../../admission/audit.js";
import { ImageDecider } from "../../admission/decider.js";
import { parsePodList } from "../../admission/pods.js";
import {
  type RegistryScopeFlags,
  registryScope,
  withRegistryScopeFlags,
} from "../../admission/registries.js";
import { loadPolicy } from "../../policy/policy.js";
import { StrataError } from "../../util/errors.js";
import { readNamedFile } from "../../util/fs.js";
import { readVexFiles } from "../../vex/read.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import { ExitStatus } from "../exit-status.js";
import { examples } from "../help.js";
import { type IndexFlags, withIndex, withIndexFlag } from "../index-flags.js";
import { withRegistryFlags } from "../registry-flags.js";
import { collect } from "./common.js";

interface AuditFlags extends IndexFlags, RegistryFlags, RegistryScopeFlags {
  pods: string;
  policy: string;
  vex?: string[];
}

/** A pod list is a few MB for thousands of pods; far more is not one. */
const MAX_POD_LIST_BYTES = 256 * 2 ** 20;

async function readPodList(path: string): Promise<unknown> {
  let text: string;
  if (path === "-") {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_POD_LIST_BYTES)
        throw new StrataError("USAGE", `--pods -: longer than ${MAX_POD_LIST_BYTES} bytes`);
      chunks.push(chunk);
    }
    text = Buffer.concat(chunks).toString("utf8");
  } else {
    const fail = (why: string) => new StrataError("USAGE", `--pods ${path}: ${why}`);
    text = (await readNamedFile(path, MAX_POD_LIST_BYTES, fail)).toString("utf8");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new StrataError("USAGE", `--pods ${path}: not JSON`, {
      hint: "give the output of kubectl get pods -A -o json",
    });
  }
}

export function registerAudit(program: Command): void {
  withIndexFlag(
    withRegistryScopeFlags(
      withRegistryFlags(
        program
          .command("audit")
          .description("which running pods the policy rejects today (advisories change after admission)")
          .requiredOption("--pods <file|->", "the output of kubectl get pods -A -o json (- for stdin)")
          .requiredOption("--policy <file>", "the policy YAML (README: Policy file)")
          .option("--json", "print every pod's verdict as JSON on stdout")
          .option(
            "--vex <file>",
            "an OpenVEX file whose not_affected/fixed statements suppress findings; repeatable",
            collect,
          )
          .addHelpText(
            "after",
            "\nExit status: 0 no running pod is rejected, 1 some are (or an error), 2 a usage error.",
          ),
      ),
    ),
  )
    .addHelpText(
      "after",
      examples("kubectl get pods -A -o json | strata audit --pods - --policy policy.yaml"),
    )
    .action(async (opts: AuditFlags) => {
      const scope = registryScope(opts);
      const policy = await loadPolicy(opts.policy);
      const pods = parsePodList(await readPodList(opts.pods));
      const vex = await readVexFiles(opts.vex ?? []);
      const audits = await withIndex(opts, (index) =>
        auditPods(new ImageDecider({ policy, index, registry: registryOptions(opts), scope, vex }), pods),
      );
      const rejected = audits.filter((a) => a.rejected);
      if (opts.json) process.stdout.write(`${JSON.stringify({ pods: audits })}\n`);
      else {
        const lines = rejected.flatMap((a) => [
          `${a.namespace}/${a.name}: rejected`,
          ...a.reasons.map((r) => `  ${r}`),
        ]);
        // Allowed is not clean where nothing covers the image's release: said, pod by pod.
        for (const a of audits.filter((p) => p.unknown.length > 0))
          lines.push(...a.unknown.map((u) => `${a.namespace}/${a.name}: note: ${u}`));
        lines.push(`${rejected.length} of ${audits.length} running pods would be rejected today`);
        process.stdout.write(`${lines.join("\n")}\n`);
      }
      if (rejected.length > 0) throw new ExitStatus(1);
    });
}
