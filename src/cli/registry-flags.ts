import type { Command } from "commander";

/** Adds the flags every registry command shares. */
export function withRegistryFlags(cmd: Command): Command {
  return cmd
    .option("--creds <user:password>", "registry login (default: the saved ones, see README)")
    .option("--insecure", "allow plain HTTP to a registry that is not on loopback")
    .option("--no-tls-verify", "do not verify the registry's TLS certificate")
    .option("--ca-file <pem>", "trust this CA certificate for the registry");
}
