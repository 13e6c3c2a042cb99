import type { Finding } from "../advisories/match.js";
import type { ImageScan, SuppressedFinding, VexVerdict } from "../scan/scan.js";
import type { Purl, VexClaim } from "./read.js";

/**
 * VEX claims applied to a scan: a finding that a `not_affected` or `fixed` statement covers (by
 * vulnerability id or alias, and the image by digest with the package among its subcomponents, or
 * the package itself) leaves the verdict and is kept as suppressed, with whose statement it was.
 */

interface Target {
  digest: string;
  name: string;
  version: string;
  architecture?: string;
}

/** `epoch=` (Trivy's) put back into the version, as Debian and the purl specification write it. */
function debVersion(p: Purl): string | undefined {
  const epoch = p.qualifiers.epoch;
  return p.version !== undefined && epoch !== undefined ? `${epoch}:${p.version}` : p.version;
}

/** A deb purl names the package when name, version and architecture agree where the purl gives them. */
function namesPackage(p: Purl, t: Target): boolean {
  if (p.type !== "deb" || (p.namespace !== undefined && p.namespace !== "debian")) return false;
  if (p.name !== t.name) return false;
  const version = debVersion(p);
  if (version !== undefined && version !== t.version) return false;
  const arch = p.qualifiers.arch;
  return arch === undefined || arch === t.architecture;
}

function covers(claim: VexClaim, finding: Finding, t: Target): boolean {
  if (!claim.ids.includes(finding.id)) return false;
  return claim.products.some(({ purl, subcomponents }) => {
    if (purl.type === "oci")
      return (
        purl.version === t.digest &&
        (subcomponents.length === 0 || subcomponents.some((c) => namesPackage(c, t)))
      );
    return namesPackage(purl, t);
  });
}

function verdictOf(claim: VexClaim): VexVerdict {
  const verdict: VexVerdict = { source: claim.source, status: claim.status };
  if (claim.justification !== undefined) verdict.justification = claim.justification;
  return verdict;
}

/**
 * `findings` of the image at `digest` split into those no claim covers and those one does (the
 * first); `architecture` tells a package's architecture, where known.
 */
export function splitByVex(
  findings: Finding[],
  image: { digest: string; architecture: (name: string, version: string) => string | undefined },
  claims: VexClaim[],
): { findings: Finding[]; suppressed: SuppressedFinding[] } {
  const kept: Finding[] = [];
  const suppressed: SuppressedFinding[] = [];
  for (const finding of findings) {
    const target: Target = {
      digest: image.digest,
      name: finding.package,
      version: finding.version,
      architecture: image.architecture(finding.package, finding.version),
    };
    const claim = claims.find((c) => covers(c, finding, target));
    if (claim === undefined) kept.push(finding);
    else suppressed.push({ ...finding, vex: verdictOf(claim) });
  }
  return { findings: kept, suppressed };
}

/** The scan with the findings `claims` cover moved to `suppressed`. */
export function applyVex(scan: ImageScan, claims: VexClaim[]): ImageScan {
  if (claims.length === 0) return scan;
  const arch = new Map(scan.packages.map((p) => [`${p.name}=${p.version}`, p.architecture]));
  const image = {
    digest: scan.digest,
    architecture: (name: string, version: string) => arch.get(`${name}=${version}`),
  };
  const split = splitByVex(scan.findings, image, claims);
  return { ...scan, findings: split.findings, suppressed: [...scan.suppressed, ...split.suppressed] };
}
