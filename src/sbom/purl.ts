import type { OsRelease } from "../inventory/os-release.js";
import type { InventoryPackage } from "../inventory/package.js";
import { lazyModule } from "../util/lazy.js";

/** packageurl-js: its module makes an Intl.Collator as it loads (~6 ms), for purls the plain form below does not cover. */
export const packageUrl = lazyModule<typeof import("packageurl-js")>("packageurl-js");

/**
 * Package URLs as the purl specification's `deb` type and Trivy write them:
 * `pkg:deb/debian/NAME@VERSION?arch=A&distro=debian-12.8` (qualifiers in canonical order), and
 * `pkg:oci/NAME@sha256:...` for the image. Where the two disagree the specification wins: the
 * epoch stays in the version (`zlib1g@1:1.2.13.dfsg-1`), as its examples write it, where Trivy moves
 * it to an `epoch=` qualifier. No `upstream=` (Syft's): the type does not define it, and the SBOMs
 * name the source package on their own.
 */

/**
 * "debian-12.8" (Debian's point release, as Trivy names it), else "debian-12" or "debian-trixie"
 * (testing and sid have no number), from the image's os-release and debian_version.
 */
export function distroOf(os: OsRelease | undefined): string | undefined {
  if (os === undefined) return undefined;
  const version = os.pointRelease ?? os.versionId ?? os.codename;
  return version === undefined ? os.id : `${os.id}-${version}`;
}

function namespace(os: OsRelease | undefined): string {
  return os?.id ?? "debian";
}

/** What the plain form covers: names, versions and qualifiers that no encoding or normalising changes. */
const PLAIN = {
  namespace: /^[a-z0-9._-]{1,64}$/,
  name: /^[a-z0-9][a-z0-9+._-]{0,199}$/,
  version: /^[A-Za-z0-9][A-Za-z0-9.+~:_-]{0,199}$/,
  qualifier: /^[a-z0-9][a-z0-9.-]{0,63}$/,
};

/**
 * `pkg:TYPE/[NAMESPACE/]NAME@VERSION?QUALIFIERS`, byte for byte what packageurl-js writes (a test
 * compares them over random input), without loading it for what Debian's packages and images
 * hold: lowercase names in which only `+` is encoded, versions left as they are, qualifier keys
 * and values that need no encoding, in key order. Anything else goes through packageurl-js.
 */
export function purlText(
  type: "deb" | "oci",
  namespace: string | undefined,
  name: string,
  version: string,
  qualifiers: Record<string, string>,
): string {
  const keys = Object.keys(qualifiers).sort();
  // A deb purl has a namespace (the distribution), an oci one none: packageurl-js refuses the rest.
  const plain =
    (type === "oci" ? namespace === undefined : namespace !== undefined && PLAIN.namespace.test(namespace)) &&
    PLAIN.name.test(name) &&
    PLAIN.version.test(version) &&
    keys.every((k) => PLAIN.qualifier.test(k) && PLAIN.qualifier.test(qualifiers[k]));
  if (!plain) {
    const { PackageURL } = packageUrl();
    return new PackageURL(type, namespace, name, version, qualifiers, undefined).toString();
  }
  const query = keys.map((k) => `${k}=${qualifiers[k]}`).join("&");
  const path = `${namespace === undefined ? "" : `${namespace}/`}${name.replaceAll("+", "%2B")}`;
  return `pkg:${type}/${path}@${version}${query === "" ? "" : `?${query}`}`;
}

/**
 * A purl in the specification's canonical form. packageurl-js leaves a version's `+` as it is,
 * which the specification's permitted characters do not include (Debian's `+deb12u1`, `+b1`):
 * its name and qualifiers are already percent-encoded, so a `+` left can only be the version's.
 */
function debPurlText(
  name: string,
  version: string,
  qualifiers: Record<string, string>,
  os?: OsRelease,
): string {
  return purlText("deb", namespace(os), name, version, qualifiers).replaceAll("+", "%2B");
}

export function debPurl(p: InventoryPackage, os: OsRelease | undefined): string {
  const qualifiers: Record<string, string> = {};
  if (p.architecture !== undefined) qualifiers.arch = p.architecture;
  const distro = distroOf(os);
  if (distro !== undefined) qualifiers.distro = distro;
  return debPurlText(p.name, p.version, qualifiers, os);
}

/** The source package a binary was built from (`arch=source`, Debian's convention). */
export function sourcePurl(name: string, version: string, os: OsRelease | undefined): string {
  const distro = distroOf(os);
  const qualifiers = { arch: "source", ...(distro === undefined ? {} : { distro }) };
  return debPurlText(name, version, qualifiers, os);
}

export function imagePurl(name: string, digest: string, architecture: string): string {
  return purlText("oci", undefined, name, digest, { arch: architecture });
}
