import { PackageURL } from "packageurl-js";
import type { OsRelease } from "../inventory/os-release.js";
import type { InventoryPackage } from "../inventory/package.js";

/**
 * Package URLs as scanners match them: `pkg:deb/debian/NAME@VERSION?arch=A&distro=debian-12&upstream=SRC`
 * (epochs kept in the version; encoded by packageurl-js, qualifiers in its canonical order), and
 * `pkg:oci/NAME@sha256:...` for the image.
 */

/** "debian-12" (or "debian-trixie" where no VERSION_ID is given), from the image's os-release. */
export function distroOf(os: OsRelease | undefined): string | undefined {
  if (os === undefined) return undefined;
  const version = os.versionId ?? os.codename;
  return version === undefined ? os.id : `${os.id}-${version}`;
}

function namespace(os: OsRelease | undefined): string {
  return os?.id ?? "debian";
}

export function debPurl(p: InventoryPackage, os: OsRelease | undefined): string {
  const qualifiers: Record<string, string> = {};
  if (p.architecture !== undefined) qualifiers.arch = p.architecture;
  if (p.source !== undefined) qualifiers.upstream = p.source;
  const distro = distroOf(os);
  if (distro !== undefined) qualifiers.distro = distro;
  return new PackageURL("deb", namespace(os), p.name, p.version, qualifiers, undefined).toString();
}

/** The source package a binary was built from (`arch=source`, Debian's convention). */
export function sourcePurl(name: string, version: string, os: OsRelease | undefined): string {
  const distro = distroOf(os);
  const qualifiers = { arch: "source", ...(distro === undefined ? {} : { distro }) };
  return new PackageURL("deb", namespace(os), name, version, qualifiers, undefined).toString();
}

export function imagePurl(name: string, digest: string, architecture: string): string {
  return new PackageURL("oci", undefined, name, digest, { arch: architecture }, undefined).toString();
}
