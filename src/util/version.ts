/** strata's own version: what `--version` prints and what provenance names as the builder's. */
export const STRATA_VERSION = "0.1.0";
