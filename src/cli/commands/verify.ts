import type { VerifyReport } from "../../sign/sign-image.js";
import { verifyLocation } from "../../sign/verify-location.js";
import type { CommandDef } from "../command.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import { ExitStatus } from "../exit-status.js";
import type { Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import { IMAGE_ARGUMENT } from "../signing-flags.js";
import type { CommonOptions } from "./common.js";

interface VerifyFlags extends CommonOptions, RegistryFlags {
  key: string[];
  provenance?: boolean;
  json?: boolean;
}

function verifyLines(report: VerifyReport, files: string[]): string[] {
  const ok = report.verified && report.provenance?.verified !== false;
  const p = report.provenance;
  return [
    `${report.image} ${report.digest}: ${ok ? "verified" : "NOT VERIFIED"}`,
    ...report.keys.map((k, i) => `  ${files[i]}: ${k.verified ? "signed" : `not signed: ${k.reason}`}`),
    ...(p ? [`  provenance: ${p.verified ? "verified" : `not verified: ${p.reason}`}`] : []),
  ];
}

async function verify([location]: [string], opts: VerifyFlags, out: Output): Promise<void> {
  const registry = registryOptions(opts);
  const report = await verifyLocation(location, opts.key, { registry, provenance: opts.provenance });
  if (opts.json) out.json(report);
  else process.stdout.write(`${verifyLines(report, opts.key).join("\n")}\n`);
  if (!report.verified || report.provenance?.verified === false) throw new ExitStatus(1);
}

export const command: CommandDef<VerifyFlags, [string]> = {
  name: "verify",
  summary:
    "check an image's cosign signature against public keys: exit 0 when one key signed it, 1 when none",
  arguments: [IMAGE_ARGUMENT],
  options: (cmd) =>
    withRegistryFlags(
      cmd
        .requiredOption(
          "--key <file...>",
          "public keys (PEM); the image passes when any of them signed its digest",
        )
        .option("--provenance", "also require a SLSA provenance of the image, signed by one of the keys")
        .option("--json", "print the verdict as JSON on stdout"),
    ),
  notes: [
    "",
    "A signature counts when its payload names the digest the image resolves to now: a",
    "signature copied from another image, or a tag moved to an unsigned image, fails. With",
    "--provenance, the provenance's subject must be that digest and its resolved dependencies",
    "exactly the .debs and InReleases of the image's build record.",
  ].join("\n"),
  examples: ["strata verify registry.example/team/app:1.0 --key keys/release.pub"],
  handler: verify,
};
