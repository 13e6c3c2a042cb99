/** strata's own version: what `--version` prints and what provenance names as the builder's. */
export const STRATA_VERSION = "0.1.0";

declare const __STRATA_BUILD_ID__: string | undefined;

/**
 * The sha256 of the source the running bundle was built from and of its pinned dependencies
 * (scripts/build.mjs); undefined when running from source (tsx). Caches of what the code computes
 * from its inputs key on it, so a change to the code never reads a result the old code made.
 */
export const BUILD_ID: string | undefined =
  typeof __STRATA_BUILD_ID__ === "string" ? __STRATA_BUILD_ID__ : undefined;
