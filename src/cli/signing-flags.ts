import type { KeyObject } from "node:crypto";
import type { Command } from "commander";
import { loadPrivateKey } from "../sign/keys.js";
import { signingPassphrase } from "../sign/passphrase.js";
import type { SignReport } from "../sign/sign-image.js";
import { StrataError } from "../util/errors.js";
import type { ArgumentDef } from "./command.js";
import type { Output } from "./output.js";

/** --sign and --key, and what a signing says, for the commands that write or sign an image. */

/** The <image> of sign and verify. */
export const IMAGE_ARGUMENT: ArgumentDef = {
  name: "<image>",
  description: "an image in a registry (docker://REGISTRY/REPO[:TAG], REGISTRY/REPO:TAG) or oci:DIR[:TAG]",
};

/** The --key FILE of signing commands, opened with the passphrase when it is encrypted. */
export function signingKey(file: string): Promise<KeyObject> {
  return loadPrivateKey(file, () => signingPassphrase());
}

export interface SigningFlags {
  sign?: boolean;
  key?: string;
}

/** --sign and --key for commands that write an image (build, update) or attach to one (sbom). */
export function withSigningFlags(
  cmd: Command,
  what = "sign the image written (cosign's format) and attach its signed SLSA provenance",
): Command {
  return cmd
    .option("--sign", what)
    .option("--key <file>", "the private key for --sign: strata's or cosign's .key, or a PKCS#8 PEM");
}

/** The key --sign --key names, opened before any work, so that a wrong passphrase fails fast. */
export async function signingKeyOf(flags: SigningFlags): Promise<KeyObject | undefined> {
  if (!flags.sign) {
    if (flags.key !== undefined)
      throw new StrataError("USAGE", "--key without --sign", { hint: "add --sign to sign the image" });
    return undefined;
  }
  if (flags.key === undefined)
    throw new StrataError("USAGE", "--sign needs --key FILE", {
      hint: "make a key pair with `strata key generate --output PREFIX` and give --key PREFIX.key",
    });
  return signingKey(flags.key);
}

/** What sign, build --sign and update --sign say they did. */
export function printSignReport(report: SignReport, json: boolean | undefined, o: Output): void {
  if (json) {
    const { payload, ...rest } = report;
    o.json({ ...rest, payload: payload.toString("utf8") });
    return;
  }
  const key = report.fingerprint.slice(0, 16);
  o.line(`signed ${report.image} ${report.digest} (key ${key}; ${report.stored.join(", ")})`);
  const p = report.provenance;
  o.line("via" in p ? `attached signed provenance (${p.via})` : `no provenance: ${p.skipped}`);
}
