/**
 * Effects of maintainer scripts that strata leaves out of images on purpose, each with its reason.
 * One list for the parity test against dpkg (test/e2e/effects-parity.test.ts), its bench row and
 * the README, so what an image lacks is said once and kept true by the test.
 */
export interface ExcludedEffect {
  /** The paths, as people read them. */
  paths: string;
  /** The same, as a pattern over image paths (no leading "/"). */
  match: RegExp;
  reason: string;
}

export const EXCLUDED_EFFECTS: readonly ExcludedEffect[] = [
  {
    paths: "/usr/lib/python3*/**/__pycache__/*.pyc (and other __pycache__ byte-code)",
    match: /(^|\/)__pycache__(\/|$)/,
    reason:
      "byte-code py3compile writes in python3's postinst: Python runs from the sources without it, and compiling needs Python to run at build time",
  },
  {
    paths: "/etc/hosts",
    match: /^etc\/hosts$/,
    reason:
      "written by netbase's postinst for a machine; every container runtime mounts its own /etc/hosts over it",
  },
  {
    paths: "/var/lib/python/python3.*_installed",
    match: /^var\/lib\/python(\/python3\.\d+_installed)?$/,
    reason:
      "python3's record of the installed runtimes for its rtupdate hooks: only maintainer scripts read it",
  },
];

/** Why an effect at `path` is left out on purpose, or undefined when it is not (an effect strata
 * makes after all counts as made). */
export function excludedReason(path: string): string | undefined {
  return EXCLUDED_EFFECTS.find((s) => s.match.test(path))?.reason;
}
