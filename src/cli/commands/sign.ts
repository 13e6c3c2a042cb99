import { archiveKind } from "../../oci/locations/docker-archive.js";
import { sourceLocation } from "../../oci/locations/name.js";
import { loadGpgKey } from "../../sign/gpg-signature.js";
import { signingPassphrase } from "../../sign/passphrase.js";
import { signImage, signImageGpg } from "../../sign/sign-image.js";
import { StrataError } from "../../util/errors.js";
import type { CommandDef } from "../command.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import type { Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import { IMAGE_ARGUMENT, printSignReport, signingKey } from "../signing-flags.js";
import type { CommonOptions } from "./common.js";

interface SignFlags extends CommonOptions, RegistryFlags {
  key?: string;
  provenance: boolean;
  gpgKey?: string;
  lookaside?: string;
  json?: boolean;
}

/** --gpg-key and --lookaside go together, and one of --key and --gpg-key is needed. */
function gpgFlags(opts: SignFlags): { key: string; lookaside: string } | undefined {
  if (opts.key === undefined && opts.gpgKey === undefined)
    throw new StrataError("USAGE", "sign needs --key FILE, --gpg-key FILE, or both", {
      hint: "make a key pair with `strata key generate --output PREFIX`",
    });
  if ((opts.gpgKey === undefined) !== (opts.lookaside === undefined))
    throw new StrataError("USAGE", "--gpg-key and --lookaside go together", {
      hint: "give the lookaside directory your registries.d names for the registry",
    });
  return opts.gpgKey === undefined ? undefined : { key: opts.gpgKey, lookaside: opts.lookaside! };
}

async function sign([location]: [string], opts: SignFlags, out: Output): Promise<void> {
  const gpg = gpgFlags(opts);
  const imageLocation = await sourceLocation(location, archiveKind);
  const registry = registryOptions(opts);
  if (opts.key !== undefined) {
    const report = await signImage(imageLocation, await signingKey(opts.key), {
      registry,
      provenance: opts.provenance,
    });
    printSignReport(report, opts.json, out);
  }
  if (gpg !== undefined) {
    const key = await loadGpgKey(gpg.key, () => signingPassphrase());
    const r = await signImageGpg(imageLocation, key, gpg.lookaside, { registry });
    if (opts.json) out.json(r);
    else out.line(`signed ${r.identity} ${r.digest} with GPG: ${r.file}`);
  }
}

export const command: CommandDef<SignFlags, [string]> = {
  name: "sign",
  summary: "sign an image in cosign's format and store the signature beside it",
  arguments: [IMAGE_ARGUMENT],
  options: (cmd) =>
    withRegistryFlags(
      cmd
        .option("--key <file>", "the private key: strata's or cosign's .key, or a PKCS#8 PEM")
        .option("--no-provenance", "do not attach a signed SLSA provenance")
        .option(
          "--gpg-key <file>",
          "also (or only) sign for podman and skopeo: an armored OpenPGP private key",
        )
        .option(
          "--lookaside <dir>",
          "with --gpg-key: the lookaside directory registries.d names for the registry",
        )
        .option("--json", "print the signature report as JSON on stdout"),
    ),
  notes: [
    "",
    "The digest the name resolves to is signed (an index's, for a multi-platform image). In a",
    "registry the signature goes under cosign's tag sha256-<hex>.sig, and as an OCI 1.1 referrer",
    "where the registry has the referrers API; in an OCI layout it is a referrer of the image.",
    "For an image strata built, an SLSA v1 provenance made from its build record is signed",
    "(DSSE) and attached as an application/vnd.in-toto+json referrer.",
    "",
    "--gpg-key writes a containers/image simple signing (an OpenPGP signed message) to",
    "DIR/REPO@sha256=HEX/signature-N, which podman pull verifies under a policy.json signedBy",
    "rule when /etc/containers/registries.d gives DIR as the registry's lookaside.",
  ].join("\n"),
  examples: ["strata sign registry.example/team/app:1.0 --key keys/release.key"],
  handler: sign,
};
