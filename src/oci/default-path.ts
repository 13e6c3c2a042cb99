/**
 * The PATH of a Linux container whose config sets none: what Docker and containerd give, and what
 * a strata image's config says unless its spec sets PATH.
 */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
