import type { FetchContext } from "../debian/release.js";
import type { Universe } from "../debian/universe.js";
import type { Spec } from "../spec/spec.js";
import { isStrataError, StrataError } from "../util/errors.js";
import { compareText } from "../util/order.js";
import type { Lock, LockedPackage } from "./lock.js";
import { resolveSpec } from "./resolve.js";

/** What to update: named packages (each to the newest version, or to the one given), or all of them. */
export type UpdateTargets = { all: true } | { all?: false; packages: { name: string; version?: string }[] };

/** One package that an update changed, added (no `from`) or dropped (no `to`). */
export interface PackageChange {
  arch: string;
  name: string;
  from?: LockedPackage;
  to?: LockedPackage;
}

export interface LockUpdate {
  lock: Lock;
  changes: PackageChange[];
}

/** `--package NAME[=VERSION]` as a target; the name and version are checked against the lock's rules. */
export function parsePackageTarget(text: string): { name: string; version?: string } {
  const [name, version] = text.split("=", 2);
  if (!/^[a-z0-9][a-z0-9+.-]+$/.test(name) || (version !== undefined && !/^[A-Za-z0-9.+~:-]+$/.test(version)))
    throw new StrataError("USAGE", `--package ${text}: not NAME or NAME=VERSION`, {
      hint: "e.g. --package libssl3 or --package libssl3=3.0.15-1~deb12u1",
    });
  return version === undefined ? { name } : { name, version };
}

/**
 * Re-resolves a lock with only the targets free to move: every other package the old lock holds
 * stays at its version (the resolver's pins), so the result differs from the old lock only where the
 * targets and their new dependencies need it. Packages nothing requested needs any more are dropped
 * (the resolution starts from the spec's requests). `all` is a fresh resolution.
 */
export async function updateLock(
  old: Lock,
  spec: Spec,
  targets: UpdateTargets,
  ctx: FetchContext = {},
): Promise<LockUpdate> {
  if (!targets.all) checkTargets(old, spec, targets.packages);
  const holds = (arch: string, universe: Universe) =>
    targets.all ? new Map<string, string>() : holdsFor(old, arch, targets.packages, universe);
  let lock: Lock;
  try {
    lock = await resolveSpec(spec, ctx, holds);
  } catch (err) {
    if (targets.all || !(isStrataError(err, "UNSATISFIABLE") || isStrataError(err, "CONFLICT"))) throw err;
    throw new StrataError(err.code, `${err.message}, with every other package held at its locked version`, {
      hint: "name the packages it needs newer versions of with --package too, or update them all with --all",
    });
  }
  return { lock, changes: lockChanges(old, lock) };
}

/** Every target names a package of the image, and is not pinned otherwise by the spec. */
function checkTargets(old: Lock, spec: Spec, targets: { name: string; version?: string }[]): void {
  if (targets.length === 0)
    throw new StrataError("USAGE", "nothing to update: name packages with --package, or pass --all", {
      hint: "e.g. strata update IMAGE --package libssl3",
    });
  const names = new Set(old.packages.map((p) => p.name));
  for (const t of targets) {
    if (!names.has(t.name))
      throw new StrataError("PACKAGE_UNKNOWN", `${t.name} is not a package of the image`, {
        hint: "strata diff or the lock list its packages; a new package belongs in the spec's packages",
      });
    const pin = spec.packages.find((p) => p.startsWith(`${t.name}=`));
    if (pin && pin !== `${t.name}=${t.version}`)
      throw new StrataError("USAGE", `${t.name} is pinned by ${spec.path} (${pin})`, {
        hint: `change the pin in ${spec.path} instead`,
      });
  }
}

/** The versions one architecture holds: targets at their asked version (or free), the rest as locked. */
function holdsFor(
  old: Lock,
  arch: string,
  targets: { name: string; version?: string }[],
  universe: Universe,
): Map<string, string> {
  const holds = new Map<string, string>();
  const free = new Set(targets.map((t) => t.name));
  for (const p of old.packages) if (p.arch === arch && !free.has(p.name)) holds.set(p.name, p.version);
  for (const t of targets) {
    const offered = universe.versionsOf(t.name).map((r) => r.version);
    if (t.version === undefined) continue;
    if (!offered.includes(t.version))
      throw new StrataError(
        "PACKAGE_UNKNOWN",
        `${t.name}=${t.version} is not offered for ${arch} (offered: ${offered.join(", ") || "none"})`,
        { hint: "pick an offered version, or add the repository or suite that has it with --spec" },
      );
    holds.set(t.name, t.version);
  }
  for (const [name, version] of holds) {
    if (free.has(name)) continue;
    const offered = universe.versionsOf(name).map((r) => r.version);
    if (offered.length > 0 && !offered.includes(version))
      throw new StrataError(
        "PACKAGE_UNKNOWN",
        `${name} ${version} (held, for ${arch}) is no longer offered (offered: ${offered.join(", ")})`,
        { hint: `update it too: --package ${name}, or --all` },
      );
  }
  return holds;
}

/** Packages whose version or .deb differ between two locks, and those only one of them has. */
export function lockChanges(old: Lock, updated: Lock): PackageChange[] {
  const key = (p: LockedPackage) => `${p.arch}/${p.name}`;
  const before = new Map(old.packages.map((p) => [key(p), p]));
  const after = new Map(updated.packages.map((p) => [key(p), p]));
  const changes: PackageChange[] = [];
  for (const [k, from] of before) {
    const to = after.get(k);
    if (!to || to.sha256 !== from.sha256) changes.push({ arch: from.arch, name: from.name, from, to });
  }
  for (const [k, to] of after) if (!before.has(k)) changes.push({ arch: to.arch, name: to.name, to });
  return changes.sort((a, b) => compareText(a.arch, b.arch) || compareText(a.name, b.name));
}

/** `libssl3 3.0.20-1~deb12u1 → 3.0.22-1~deb12u2`, `+ libfoo 1.0`, `- libbar 2.1`. */
export function describeChange(c: PackageChange): string {
  if (!c.from) return `+ ${c.name} ${c.to!.version}`;
  if (!c.to) return `- ${c.name} ${c.from.version}`;
  return `${c.name} ${c.from.version} → ${c.to.version}`;
}
