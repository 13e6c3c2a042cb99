import type { CaCertificate } from "./ca-certificates.js";

/**
 * The version of what PackageFacts holds: part of the layer cache key, so older records miss (7:
 * the maintainer scripts, the layer's paths and the bodies the scripts read or change the mode or
 * owner of, the debconf config script and defaults, the certificate facts). The layer's bytes do
 * not depend on it.
 */
export const FACTS_VERSION = 7;

/** [path, "f" | "d" | "l", mode, uid, gid, symlink target]: compact, as a record holds thousands. */
export type PathFact = [string, "f" | "d" | "l", number, number, number, string?];

/** What a layer of packages holds besides its bytes: enough for file-conflict and script reports. */
export interface PackageFacts {
  package: string;
  version: string;
  architecture: string;
  /** Maintainer scripts the package ships (preinst, postinst, ...), which strata does not run. */
  scripts: string[];
  /** Package names its Replaces field names (Policy 7.6), for allowed file overlaps. */
  replaces: string[];
  /** Its preinst and postinst, followed (never run) when an image is put together. */
  maintainerScripts: {
    preinst?: string;
    postinst?: string;
    config?: string;
    debconf?: Record<string, string>;
  };
  /** Every path of its layer (type, mode, owner, link target): the tree its scripts see. */
  paths: PathFact[];
  /** Its files its scripts read (path → sha256 in the ContentStore), e.g. a page nginx copies. */
  bodies: Record<string, string>;
  /**
   * The CA bundle its certificates make (usr/share/ca-certificates/**.crt in path order), stored in
   * the ContentStore: what update-ca-certificates would write. Only ca-certificates has one.
   */
  caBundle?: { sha256: string; certificates: number };
  /** Its certificate files' names, DER digests and subject hashes (src/effects/ca-certificates.ts). */
  caCertificates?: CaCertificate[];
}
