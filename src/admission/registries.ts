import type { Command } from "commander";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { StrataError } from "../util/errors.js";

/**
 * Which registries the webhook may contact and which one its explicit credentials belong to: a pod
 * names any registry it likes, so unbound credentials would go to whoever a pod names.
 */
export interface RegistryScope {
  /** Only these registries are contacted; others are denied unasked (undefined: any). */
  allow?: string[];
  /** The registry the explicit credentials are for; other registries get only their saved ones. */
  credentialsFor?: string;
  /**
   * With no allow-list, whether any registry may be contacted (default true: `audit`, `check`);
   * the webhook says false, so a pod cannot make it fetch from wherever it names.
   */
  fetchWithoutAllowList?: boolean;
}

/** A pod names a registry outside --allow-registry: denied, whatever the failure policy. */
export class RegistryNotAllowed extends Error {}

/**
 * The client options for one registry, explicit credentials only where they are bound; undefined
 * when the scope lets no registry be contacted (no allow-list, and fetching without one is off).
 */
export function optionsFor(
  registry: string,
  base: RegistryClientOptions | undefined,
  scope: RegistryScope,
): RegistryClientOptions | undefined {
  if (scope.allow !== undefined && !scope.allow.includes(registry))
    throw new RegistryNotAllowed(`registry ${registry} is not allowed (--allow-registry)`);
  if (scope.allow === undefined && scope.fetchWithoutAllowList === false) return undefined;
  if (base?.credentials === undefined || registry === scope.credentialsFor) return base ?? {};
  return { ...base, credentials: undefined };
}

/** Refuses --creds that say no registry: the webhook and audit meet registries named by others. */
export function checkCredentialsBound(creds: string | undefined, credsRegistry: string | undefined): void {
  if (creds !== undefined && credsRegistry === undefined)
    throw new StrataError(
      "USAGE",
      "--creds needs --creds-registry HOST: pods name registries of their choosing",
      {
        hint: "add --creds-registry HOST (the registry the credentials are for), or save them per registry in REGISTRY_AUTH_FILE",
      },
    );
  if (creds === undefined && credsRegistry !== undefined)
    throw new StrataError("USAGE", "--creds-registry without --creds", {
      hint: "give --creds USER:PASSWORD too",
    });
}

export interface RegistryScopeFlags {
  creds?: string;
  credsRegistry?: string;
  allowRegistry?: string[];
}

/**
 * Adds --creds-registry and --allow-registry to a command that judges images that pods name;
 * `allowWhat` says what --allow-registry does there (the webhook contacts none without it).
 */
export function withRegistryScopeFlags(
  cmd: Command,
  allowWhat = "contact only this registry (repeatable); deny the others",
): Command {
  return cmd
    .option("--creds-registry <host>", "the one registry --creds are sent to (required with --creds)")
    .option("--allow-registry <host>", allowWhat, (value: string, previous: string[] = []) => [
      ...previous,
      value,
    ]);
}

/** The scope the flags say, refusing --creds that are bound to no registry. */
export function registryScope(flags: RegistryScopeFlags): RegistryScope {
  checkCredentialsBound(flags.creds, flags.credsRegistry);
  return { allow: flags.allowRegistry, credentialsFor: flags.credsRegistry };
}
