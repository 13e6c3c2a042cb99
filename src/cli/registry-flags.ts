import type { Command } from "commander";

/** Adds the flags every registry command shares. */
export function withRegistryFlags(cmd: Command): Command {
  return cmd
    .option(
      "--creds <user:password>",
      "registry credentials (else ~/.docker/config.json or REGISTRY_AUTH_FILE)",
    )
    .option("--insecure", "allow plain HTTP to a registry that is not on loopback")
    .option("--no-tls-verify", "do not verify the registry's TLS certificate")
    .option("--ca-file <pem>", "trust this CA certificate for the registry");
}
