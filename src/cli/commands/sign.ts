import type { Command } from "commander";
import { archiveKind } from "../../oci/homes/docker-archive.js";
import { sourceHome } from "../../oci/homes/name.js";
import { loadGpgKey } from "../../sign/gpg-signature.js";
import { loadPublicKey, writeSigningKey } from "../../sign/keys.js";
import { PASSPHRASE_ENV, signingPassphrase } from "../../sign/passphrase.js";
import { signImage, signImageGpg, type VerifyReport, verifyImage } from "../../sign/sign-image.js";
import { StrataError } from "../../util/errors.js";
import { type RegistryFlags, registryOptions } from "../destination.js";
import { ExitStatus } from "../exit-status.js";
import { examples } from "../help.js";
import type { Output } from "../output.js";
import { withRegistryFlags } from "../registry-flags.js";
import { printSignReport, signingKey } from "../signing-flags.js";
import type { CommonOptions } from "./common.js";

const IMAGE_ARGUMENT =
  "an image in a registry (docker://REGISTRY/REPO[:TAG], REGISTRY/REPO:TAG) or oci:DIR[:TAG]";

function registerKey(program: Command, out: () => Output): void {
  const key = program
    .command("key")
    .description("signing keys (ECDSA P-256, cosign's format)")
    .addHelpText(
      "after",
      examples("STRATA_SIGNING_PASSPHRASE=... strata key generate --output keys/release"),
    );
  key
    .command("generate")
    .description("make a key pair: PREFIX.key (encrypted, owner-only) and PREFIX.pub")
    .requiredOption("-o, --output <prefix>", "where to write the pair: PREFIX.key and PREFIX.pub")
    .option("--force", "replace an existing key pair")
    .addHelpText(
      "after",
      [
        "",
        `The passphrase comes from ${PASSPHRASE_ENV}, else it is asked for on the terminal.`,
        "The private key is in cosign's encrypted format, so cosign can use it too.",
        examples("strata key generate --output keys/release"),
      ].join("\n"),
    )
    .action(async (opts: CommonOptions & { output: string; force?: boolean }) => {
      const passphrase = await signingPassphrase({ confirm: true });
      const { privateFile, publicFile } = await writeSigningKey(opts.output, passphrase, opts.force);
      out().line(`wrote ${privateFile} (private, encrypted) and ${publicFile} (public)`);
    });
}

function registerSignCommand(program: Command, out: () => Output): void {
  withRegistryFlags(
    program
      .command("sign")
      .description("sign an image in cosign's format and store the signature beside it")
      .argument("<image>", IMAGE_ARGUMENT)
      .option("--key <file>", "the private key: strata's or cosign's .key, or a PKCS#8 PEM")
      .option("--no-provenance", "do not attach a signed SLSA provenance")
      .option("--gpg-key <file>", "also (or only) sign for podman and skopeo: an armored OpenPGP private key")
      .option(
        "--lookaside <dir>",
        "with --gpg-key: the lookaside directory registries.d names for the registry",
      )
      .option("--json", "print the signature report as JSON on stdout")
      .addHelpText(
        "after",
        [
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
          examples("strata sign registry.example/team/app:1.0 --key keys/release.key"),
        ].join("\n"),
      ),
  ).action(async (location: string, opts: SignFlags) => {
    const gpg = gpgFlags(opts);
    const home = await sourceHome(location, archiveKind);
    const registry = registryOptions(opts);
    if (opts.key !== undefined) {
      const report = await signImage(home, await signingKey(opts.key), {
        registry,
        provenance: opts.provenance,
      });
      printSignReport(report, opts.json, out());
    }
    if (gpg !== undefined) {
      const key = await loadGpgKey(gpg.key, () => signingPassphrase());
      const r = await signImageGpg(home, key, gpg.lookaside, { registry });
      if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else out().line(`signed ${r.identity} ${r.digest} with GPG: ${r.file}`);
    }
  });
}

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

function verifyLines(report: VerifyReport, files: string[]): string[] {
  const ok = report.verified && report.provenance?.verified !== false;
  const p = report.provenance;
  return [
    `${report.image} ${report.digest}: ${ok ? "verified" : "NOT VERIFIED"}`,
    ...report.keys.map((k, i) => `  ${files[i]}: ${k.verified ? "signed" : `not signed: ${k.reason}`}`),
    ...(p ? [`  provenance: ${p.verified ? "verified" : `not verified: ${p.reason}`}`] : []),
  ];
}

interface VerifyFlags extends CommonOptions, RegistryFlags {
  key: string[];
  provenance?: boolean;
  json?: boolean;
}

function registerVerify(program: Command): void {
  withRegistryFlags(
    program
      .command("verify")
      .description(
        "check an image's cosign signature against public keys: exit 0 when one key signed it, 1 when none",
      )
      .argument("<image>", IMAGE_ARGUMENT)
      .requiredOption(
        "--key <file...>",
        "public keys (PEM); the image passes when any of them signed its digest",
      )
      .option("--provenance", "also require a SLSA provenance of the image, signed by one of the keys")
      .option("--json", "print the verdict as JSON on stdout")
      .addHelpText(
        "after",
        [
          "",
          "A signature counts when its payload names the digest the image resolves to now: a",
          "signature copied from another image, or a tag moved to an unsigned image, fails. With",
          "--provenance, the provenance's subject must be that digest and its resolved dependencies",
          "exactly the .debs and InReleases of the image's build record.",
          examples("strata verify registry.example/team/app:1.0 --key keys/release.pub"),
        ].join("\n"),
      ),
  ).action(async (location: string, opts: VerifyFlags) => {
    const home = await sourceHome(location, archiveKind);
    const keys = await Promise.all(opts.key.map((f) => loadPublicKey(f)));
    const registry = registryOptions(opts);
    const report = await verifyImage(home, keys, { registry, provenance: opts.provenance });
    const text = opts.json ? JSON.stringify(report) : verifyLines(report, opts.key).join("\n");
    process.stdout.write(`${text}\n`);
    if (!report.verified || report.provenance?.verified === false) throw new ExitStatus(1);
  });
}

export function registerSign(program: Command, out: () => Output): void {
  registerKey(program, out);
  registerSignCommand(program, out);
  registerVerify(program);
}
