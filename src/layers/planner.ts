import type { LockedPackage } from "../lock/lock.js";
import { compareText } from "../util/order.js";

/** One layer of an image, before it is built: a package alone, or a group of packages. */
export type LayerPlan =
  | { kind: "package"; packages: [LockedPackage] }
  | { kind: "group"; packages: LockedPackage[] };

/** Layers every image has besides its package layers: the base layer and the files layer. */
export const FIXED_LAYERS = 2;

const PRIORITY_RANK: Record<string, number> = {
  required: 0,
  important: 1,
  standard: 2,
  optional: 3,
  extra: 4,
};

function rank(p: LockedPackage): number {
  return PRIORITY_RANK[p.priority] ?? 5;
}

function byPriorityThenName(a: LockedPackage, b: LockedPackage): number {
  return rank(a) - rank(b) || compareText(a.name, b.name);
}

/**
 * The canonical order of an image's packages: Priority tiers first (required, important, standard,
 * optional), and within a tier dependencies before the packages that need them, ties by name. It
 * depends only on the package set, so images with the same foundations (gcc-12-base, libc6, ...)
 * start with the same layers in the same positions and share ChainIDs (unpacked snapshots on
 * nodes) as far as they agree. A dependency cycle (libc6 ⇄ libgcc-s1) is broken by name.
 */
export function canonicalOrder(packages: LockedPackage[]): LockedPackage[] {
  const byName = new Map(packages.map((p) => [p.name, p]));
  // deps[x] = chosen packages x depends on (the lock records the reverse edge, requiredBy).
  const pendingDeps = new Map<string, Set<string>>(packages.map((p) => [p.name, new Set()]));
  for (const p of packages) {
    for (const dependent of p.requiredBy) {
      if (byName.has(dependent) && dependent !== p.name) pendingDeps.get(dependent)!.add(p.name);
    }
  }
  const remaining = [...packages].sort(byPriorityThenName);
  const order: LockedPackage[] = [];
  while (remaining.length > 0) {
    // Tier by tier (required first): the first ready package of the top tier, else its first one.
    const tier = rank(remaining[0]);
    let i = remaining.findIndex((p) => rank(p) === tier && pendingDeps.get(p.name)!.size === 0);
    if (i < 0) i = 0;
    const [next] = remaining.splice(i, 1);
    order.push(next);
    for (const dependent of next.requiredBy) pendingDeps.get(dependent)?.delete(next.name);
  }
  return order;
}

/**
 * How many packages of the image need `p`, directly or through others: its reverse-dependency
 * closure within the image (a cycle counts each member once, `p` itself not).
 */
function dependentsCount(p: LockedPackage, byName: Map<string, LockedPackage>): number {
  const seen = new Set<string>([p.name]);
  const queue = [...p.requiredBy];
  while (queue.length > 0) {
    const name = queue.pop()!;
    const dependent = byName.get(name);
    if (!dependent || seen.has(name)) continue;
    seen.add(name);
    queue.push(...dependent.requiredBy);
  }
  return seen.size - 1;
}

/**
 * Plans at most `maxLayers` layers (base and files layers included) for an image's packages.
 *
 * Within budget every package has a layer of its own. Over budget, the packages that matter most
 * for sharing keep their own layers: those the most packages of the image need, directly or not
 * (libc6, gcc-12-base, libssl3 before a leaf tool), ties by Priority then name. The rest are merged
 * into one group layer, members sorted by name, so two images with the same leftover set produce
 * the same group layer. The plan depends only on names, Priority and the dependency graph, never
 * on versions or sizes: an update that changes a package's version changes that package's layer
 * (or the group that holds it) and nothing else, and equals a fresh build from the updated lock.
 */
export function planLayers(packages: LockedPackage[], maxLayers: number): LayerPlan[] {
  const slots = maxLayers - FIXED_LAYERS;
  if (slots < 1) throw new Error(`a layer budget of ${maxLayers} leaves no room for packages`);
  const ordered = canonicalOrder(packages);
  if (ordered.length <= slots) return ordered.map((p) => ({ kind: "package", packages: [p] }));

  const byName = new Map(packages.map((p) => [p.name, p]));
  const dependents = new Map(packages.map((p) => [p.name, dependentsCount(p, byName)]));
  const alone = new Set(
    [...ordered]
      .sort((a, b) => dependents.get(b.name)! - dependents.get(a.name)! || byPriorityThenName(a, b))
      .slice(0, slots - 1)
      .map((p) => p.name),
  );
  const plan: LayerPlan[] = ordered
    .filter((p) => alone.has(p.name))
    .map((p) => ({ kind: "package", packages: [p] }));
  const rest = ordered.filter((p) => !alone.has(p.name)).sort((a, b) => compareText(a.name, b.name));
  plan.push({ kind: "group", packages: rest });
  return plan;
}
