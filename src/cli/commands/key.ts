import { writeSigningKey } from "../../sign/keys.js";
import { PASSPHRASE_ENV, signingPassphrase } from "../../sign/passphrase.js";
import type { CommandDef } from "../command.js";
import type { Output } from "../output.js";
import type { CommonOptions } from "./common.js";

type GenerateFlags = CommonOptions & { output: string; force?: boolean };

async function generate(_: [], opts: GenerateFlags, out: Output): Promise<void> {
  const passphrase = await signingPassphrase({ confirm: true });
  const { privateFile, publicFile } = await writeSigningKey(opts.output, passphrase, opts.force);
  out.line(`wrote ${privateFile} (private, encrypted) and ${publicFile} (public)`);
}

const generateCommand: CommandDef<GenerateFlags, []> = {
  name: "generate",
  summary: "make a key pair: PREFIX.key (encrypted, owner-only) and PREFIX.pub",
  options: (cmd) =>
    cmd
      .requiredOption("-o, --output <prefix>", "where to write the pair: PREFIX.key and PREFIX.pub")
      .option("--force", "replace an existing key pair"),
  notes: [
    "",
    `The passphrase comes from ${PASSPHRASE_ENV}, else it is asked for on the terminal.`,
    "The private key is in cosign's encrypted format, so cosign can use it too.",
  ].join("\n"),
  examples: ["strata key generate --output keys/release"],
  handler: generate,
};

export const command: CommandDef = {
  name: "key",
  summary: "signing keys (ECDSA P-256, cosign's format)",
  examples: ["STRATA_SIGNING_PASSPHRASE=... strata key generate --output keys/release"],
  subcommands: [generateCommand],
};
