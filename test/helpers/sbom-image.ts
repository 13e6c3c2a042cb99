import type { Image } from "../../src/oci/image.js";
import type { Platform } from "../../src/oci/types.js";
import { StrataAnnotation } from "../../src/record/keys.js";
import { layerOf, type TestEntry } from "./layer-tar.js";
import { syntheticImage } from "./synthetic-image.js";

/**
 * Images whose layers hold what an SBOM reads: dpkg records with Depends and Provides,
 * machine-readable (DEP-5) copyright files, and os-release behind Debian's symlink.
 */

export const DEP5 = "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/";

export interface Pkg {
  name: string;
  version: string;
  arch?: string;
  source?: string;
  depends?: string;
  provides?: string;
}

export function stanza(p: Pkg): string {
  const lines = [`Package: ${p.name}`, "Status: install ok installed", `Architecture: ${p.arch ?? "amd64"}`];
  if (p.source) lines.push(`Source: ${p.source}`);
  lines.push(`Version: ${p.version}`);
  if (p.depends) lines.push(`Depends: ${p.depends}`);
  if (p.provides) lines.push(`Provides: ${p.provides}`);
  return `${lines.join("\n")}\nDescription: a test package\n`;
}

export function copyright(licence: string): string {
  return `Format: ${DEP5}\nUpstream-Name: x\n\nFiles: *\nCopyright: someone\nLicense: ${licence}\n`;
}

export const OS_RELEASE =
  'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n';

/** A base layer (os-release behind Debian's symlink) and one layer per package, as strata lays them out. */
export async function strataLikeImage(
  packages: Pkg[],
  licences: Record<string, string>,
  annotate = true,
  platform?: Platform,
): Promise<Image> {
  const base = await layerOf(
    [
      { path: "etc/os-release", type: "symlink", linkname: "../usr/lib/os-release" },
      { path: "usr/lib/os-release", body: OS_RELEASE },
    ],
    { annotations: annotate ? { [StrataAnnotation.layerKind]: "base" } : undefined },
  );
  const layers = [base];
  for (const p of packages) {
    const entries: TestEntry[] = [{ path: `var/lib/dpkg/status.d/${p.name}`, body: stanza(p) }];
    if (licences[p.name] !== undefined)
      entries.push({ path: `usr/share/doc/${p.name}/copyright`, body: copyright(licences[p.name]) });
    const annotations = annotate
      ? { [StrataAnnotation.layerKind]: "package", [StrataAnnotation.packages]: `${p.name}=${p.version}` }
      : undefined;
    layers.push(await layerOf(entries, { annotations }));
  }
  return syntheticImage(layers, { platform });
}

export const PACKAGES: Pkg[] = [
  { name: "libc6", version: "2.36-9+deb12u9", source: "glibc", depends: "libgcc-s1" },
  {
    name: "libgcc-s1",
    version: "12.2.0-14",
    source: "gcc-12",
    depends: "gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)",
  },
  { name: "gcc-12-base", version: "12.2.0-14", source: "gcc-12" },
  { name: "libssl3", version: "3.0.15-1~deb12u1", source: "openssl", depends: "libc6 (>= 2.34)" },
  { name: "zlib1g", version: "1:1.2.13.dfsg-1", source: "zlib", depends: "libc6 (>= 2.14)" },
  { name: "debconf", version: "1.5.82", arch: "all", provides: "debconf-2.0" },
  { name: "tzdata", version: "2025b-0+deb12u1", arch: "all", depends: "debconf (>= 0.5) | debconf-2.0" },
];
export const LICENCES = {
  libc6: "LGPL-2.1+",
  zlib1g: "Zlib",
  libssl3: "Apache-2.0",
  tzdata: "public-domain",
  debconf: "BSD-2-clause",
};
