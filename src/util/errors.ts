/**
 * Every failure a user can cause or fix is a StrataError: a stable code for machines, one clear
 * message line for people, and an optional hint that says what to do next.
 */
export type ErrorCode =
  | "SPEC_INVALID"
  | "SPEC_NOT_FOUND"
  | "LOCK_STALE"
  | "LOCK_INVALID"
  | "LOCK_MISSING"
  | "PACKAGE_UNKNOWN"
  | "UNSATISFIABLE"
  | "CONFLICT"
  | "SIGNATURE_INVALID"
  | "RELEASE_EXPIRED"
  | "RELEASE_DATE"
  | "HASH_MISMATCH"
  | "SIZE_MISMATCH"
  | "DIGEST_INVALID"
  | "INDEX_INVALID"
  | "NETWORK"
  | "HTTP"
  | "DEB_INVALID"
  | "UNSAFE_PATH"
  | "FILE_CONFLICT"
  | "OUTPUT_EXISTS"
  | "REGISTRY"
  | "AUTH"
  | "USAGE"
  | "POLICY_INVALID"
  | "ENTRYPOINT"
  | "IO"
  /** A VEX document that is too big, not OpenVEX, or names products by what is not a purl. */
  | "VEX_INVALID"
  /** A serving certificate or key that is not PEM, or a key that is not the certificate's. */
  | "TLS"
  /** An image strata cannot rebuild from its record: not built by strata, an unknown format, a missing annotation. */
  | "IMAGE_NOT_REBUILDABLE"
  /** The fleet index's database: unreachable, gone away, or refusing a statement. */
  | "DATABASE"
  /** `build --strict`: a maintainer script's effect was not made, and not on purpose. */
  | "EFFECTS_INCOMPLETE"
  /** Work refused or dropped because the operation it belonged to already failed. */
  | "ABORTED";

export class StrataError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StrataError";
    this.code = code;
    this.hint = options.hint;
  }
}

export function isStrataError(err: unknown, code?: ErrorCode): err is StrataError {
  return err instanceof StrataError && (code === undefined || err.code === code);
}

/** Errors of the local file system that no retry fixes (a full disk, a read-only cache...). */
const LOCAL_IO_CODES = new Set(["ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EMFILE", "ENFILE", "EIO"]);

export function isLocalIoError(err: unknown): err is NodeJS.ErrnoException {
  return LOCAL_IO_CODES.has((err as NodeJS.ErrnoException)?.code ?? "");
}
