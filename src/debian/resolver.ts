import { StrataError } from "../util/errors.js";
import { compareText } from "../util/order.js";
import type { PackageRecord } from "./package.js";
import { type Alternative, formatAlternative, type Relation } from "./relations.js";
import { closeNames } from "./suggest.js";
import { satisfiesByProvides, satisfiesDirectly, type Universe } from "./universe.js";

export interface PackageRequest {
  name: string;
  /** Pin to this exact version. */
  version?: string;
}

export interface ResolvedPackage {
  record: PackageRecord;
  requested: boolean;
  /** Chosen packages whose Depends/Pre-Depends this one satisfies, sorted. */
  requiredBy: string[];
}

export interface ExcludedPackage {
  name: string;
  /** Chosen packages with a dependency this exclusion counts as met. */
  neededBy: string[];
}

export interface Resolution {
  arch: string;
  packages: ResolvedPackage[];
  excluded: ExcludedPackage[];
}

const PRIORITY_RANK: Record<string, number> = {
  required: 1,
  important: 2,
  standard: 3,
  optional: 4,
  extra: 5,
};

/** One package whose dependencies are being installed: a frame of the explicit search stack. */
interface Frame {
  rec: PackageRecord;
  /** A requested package: an unmet dependency is an error, not a failed alternative. */
  fromUser: boolean;
  /** Whether this frame marked `rec` (so a failure unmarks it). */
  marked: boolean;
  groupIndex: number;
  /** Candidates of the current or-group, in the order apt tries them; undefined between groups. */
  targets?: PackageRecord[];
  targetIndex: number;
  /** Number of marked packages when the frame started: a failure that leaves it so changed nothing. */
  markedBefore: number;
  /** Every name the search below this frame read or wrote, with its marked state when first touched. */
  touched: Map<string, string>;
}

/**
 * Chooses the packages an image needs, the way apt's internal solver does for
 * `apt-get install --no-install-recommends` on an empty system, so the result agrees with apt:
 *
 * - requested packages are marked first, then their dependencies are installed depth-first in
 *   field order (Pre-Depends, then Depends);
 * - an or-group already satisfied by a marked package is skipped; otherwise each alternative's
 *   candidates (the real package, then providers ordered as apt's CompareProviders orders them:
 *   Essential, then Priority, then the later package) are tried in turn;
 * - a candidate whose dependencies cannot be met even by candidates is not tried (apt's
 *   IsInstallOkDependenciesSatisfiableByCandidates).
 *
 * The depth-first search runs on an explicit stack (a dependency chain thousands deep does not
 * overflow), and a failed attempt that changed nothing is remembered with the marked state of every
 * name it looked at: while those are unchanged it would fail the same way, so it is not searched
 * again (without this, nested unsatisfiable alternatives take exponential time).
 *
 * Excluded names count as installed: a dependency they meet is met, and nothing of theirs is added.
 * Essential packages are not implied. Conflicts and Breaks among the chosen set are errors.
 */
export class Resolver {
  private readonly chosen = new Map<string, PackageRecord>();
  private readonly chosenProviders = new Map<string, PackageRecord[]>();
  private readonly excludedCandidates: PackageRecord[] = [];
  private readonly excludedHits = new Map<string, Set<string>>();
  private readonly stack: Frame[] = [];
  private readonly failures = new Map<PackageRecord, Map<string, string>>();
  private readonly recordIds = new Map<PackageRecord, number>();

  constructor(
    private readonly universe: Universe,
    private readonly exclude: ReadonlySet<string>,
  ) {
    for (const name of exclude) {
      const cand = universe.candidate(name);
      if (cand) this.excludedCandidates.push(cand);
    }
  }

  resolve(requests: PackageRequest[]): Resolution {
    const roots: PackageRecord[] = [];
    for (const req of requests) {
      if (this.exclude.has(req.name)) {
        throw new StrataError("USAGE", `${req.name} is both requested in packages and listed in exclude`, {
          hint: `remove it from one of the two lists`,
        });
      }
      const rec = this.requestedRecord(req);
      this.mark(rec);
      roots.push(rec);
    }
    for (const rec of roots) this.installDependencies(rec);
    const resolution = this.describe(new Set(requests.map((r) => r.name)));
    this.checkConflicts(resolution);
    return resolution;
  }

  private requestedRecord(req: PackageRequest): PackageRecord {
    const versions = this.universe.versionsOf(req.name);
    if (versions.length > 0) {
      if (req.version === undefined) return this.universe.candidate(req.name)!;
      const pinned = versions.find((v) => v.version === req.version);
      if (pinned) return pinned;
      throw new StrataError(
        "PACKAGE_UNKNOWN",
        `${req.name}=${req.version} is not available for ${this.universe.arch} (available: ${versions.map((v) => v.version).join(", ")})`,
      );
    }
    const providers = this.universe.providersOf(req.name);
    if (providers.length === 1) return providers[0];
    if (providers.length > 1) {
      throw new StrataError(
        "PACKAGE_UNKNOWN",
        `${req.name} is a virtual package provided by ${providers.map((p) => p.name).join(", ")}`,
        { hint: "name one of them in packages" },
      );
    }
    const close = closeNames(req.name, this.universe.knownNames());
    throw new StrataError("PACKAGE_UNKNOWN", `unknown package ${req.name} for ${this.universe.arch}`, {
      hint:
        close.length > 0
          ? `did you mean: ${close.join(", ")}?`
          : "check the name and the repositories' suites",
    });
  }

  /** The marked state of a name (its marked package and marked providers), as a comparable key. */
  private stateOf(name: string): string {
    const id = (r: PackageRecord | undefined) => (r ? this.idOf(r) : "-");
    const providers = (this.chosenProviders.get(name) ?? []).map(id).join(",");
    return `${id(this.chosen.get(name))}|${providers}`;
  }

  private idOf(rec: PackageRecord): number {
    let id = this.recordIds.get(rec);
    if (id === undefined) {
      id = this.recordIds.size;
      this.recordIds.set(rec, id);
    }
    return id;
  }

  /** Notes, for the search in progress, the state a name had before the search first saw it. */
  private touch(name: string): void {
    const frame = this.stack.at(-1);
    if (frame && !frame.touched.has(name)) frame.touched.set(name, this.stateOf(name));
  }

  private markedAs(name: string): PackageRecord | undefined {
    this.touch(name);
    return this.chosen.get(name);
  }

  private markedProviders(name: string): PackageRecord[] {
    this.touch(name);
    return this.chosenProviders.get(name) ?? [];
  }

  private mark(rec: PackageRecord): void {
    this.touch(rec.name);
    this.chosen.set(rec.name, rec);
    for (const p of rec.provides) {
      this.touch(p.name);
      const list = this.chosenProviders.get(p.name) ?? [];
      list.push(rec);
      this.chosenProviders.set(p.name, list);
    }
  }

  private unmark(rec: PackageRecord): void {
    this.chosen.delete(rec.name);
    for (const p of rec.provides) {
      const list = this.chosenProviders.get(p.name)?.filter((r) => r !== rec);
      if (list && list.length > 0) this.chosenProviders.set(p.name, list);
      else this.chosenProviders.delete(p.name);
    }
  }

  private isMarkedSatisfying(alt: Alternative): boolean {
    const direct = this.markedAs(alt.name);
    if (direct && satisfiesDirectly(direct, alt, this.universe.arch)) return true;
    return this.markedProviders(alt.name).some((p) => satisfiesByProvides(p, alt));
  }

  private isExcludedSatisfying(alt: Alternative): boolean {
    if (this.exclude.has(alt.name)) return true;
    return this.excludedCandidates.some((p) => satisfiesByProvides(p, alt));
  }

  /** Candidates that could satisfy one alternative: the real package first, then providers in apt's order. */
  private targetsOf(alt: Alternative): PackageRecord[] {
    const arch = this.universe.arch;
    const targets: PackageRecord[] = [];
    const real = this.universe.candidate(alt.name);
    if (real && satisfiesDirectly(real, alt, arch)) targets.push(real);
    const providers = this.universe
      .providersOf(alt.name)
      .filter((p) => p.name !== alt.name && satisfiesByProvides(p, alt))
      .sort(compareProviders);
    return targets.concat(providers);
  }

  /** An or-group's candidates, each once, in the order apt tries them. */
  private groupTargets(group: Alternative[]): PackageRecord[] {
    return [...new Set(group.flatMap((alt) => this.targetsOf(alt)))];
  }

  /** apt's lookahead: every critical dependency has a marked or candidate solution. */
  private dependenciesSatisfiableByCandidates(rec: PackageRecord): boolean {
    return dependencyGroups(rec).every((group) =>
      group.some(
        (alt) =>
          this.isMarkedSatisfying(alt) || this.isExcludedSatisfying(alt) || this.targetsOf(alt).length > 0,
      ),
    );
  }

  /** Whether `rec` failed before with every name its search looked at in the state it has now. */
  private knownToFail(rec: PackageRecord): boolean {
    const seen = this.failures.get(rec);
    if (!seen) return false;
    for (const [name, state] of seen) if (this.stateOf(name) !== state) return false;
    // The search in progress depends on those names as the skipped one would have.
    for (const name of seen.keys()) this.touch(name);
    return true;
  }

  /**
   * apt's MarkInstall with auto-install for a requested package's dependencies, run depth-first on
   * an explicit stack: each frame works through its or-groups and pushes a frame for a candidate
   * whose own dependencies must be installed.
   */
  private installDependencies(root: PackageRecord): void {
    this.push(root, true, false);
    let childResult: boolean | undefined;
    while (this.stack.length > 0) {
      const frame = this.stack.at(-1)!;
      if (childResult !== undefined) this.takeResult(frame, childResult);
      const outcome = this.advance(frame);
      childResult = outcome === "pushed" ? undefined : this.pop(outcome);
    }
  }

  private push(rec: PackageRecord, fromUser: boolean, marked: boolean): Frame {
    const frame: Frame = {
      rec,
      fromUser,
      marked,
      groupIndex: 0,
      targetIndex: 0,
      markedBefore: this.chosen.size,
      touched: new Map(),
    };
    this.stack.push(frame);
    return frame;
  }

  /** A candidate's search ended: its group is solved, or the next candidate is tried. */
  private takeResult(frame: Frame, installed: boolean): void {
    if (installed) {
      frame.targets = undefined;
      frame.groupIndex++;
    } else frame.targetIndex++;
  }

  /** Works on a frame until it is done (true/false) or has pushed a candidate's frame. */
  private advance(frame: Frame): boolean | "pushed" {
    const groups = dependencyGroups(frame.rec);
    for (;;) {
      if (frame.targets === undefined) {
        const group = groups[frame.groupIndex];
        if (group === undefined) return true;
        if (group.some((alt) => this.isMarkedSatisfying(alt))) {
          frame.groupIndex++;
          continue;
        }
        const excludedAlt = group.find((alt) => this.isExcludedSatisfying(alt));
        if (excludedAlt) {
          this.noteExcluded(excludedAlt, frame.rec.name);
          frame.groupIndex++;
          continue;
        }
        frame.targets = this.groupTargets(group);
        frame.targetIndex = 0;
      }
      const target = frame.targets[frame.targetIndex];
      if (target === undefined) {
        if (frame.fromUser) throw this.unsatisfiable(frame.rec, groups[frame.groupIndex]);
        return false;
      }
      const now = this.tryInstall(target);
      if (now === "pushed") return now;
      this.takeResult(frame, now);
    }
  }

  /** apt's MarkInstall for one candidate: decided now, or its frame pushed to install its dependencies. */
  private tryInstall(target: PackageRecord): boolean | "pushed" {
    const marked = this.markedAs(target.name);
    if (marked) return marked === target;
    if (this.knownToFail(target)) return false;
    this.push(target, false, false);
    if (!this.dependenciesSatisfiableByCandidates(target)) return this.pop(false);
    this.mark(target);
    this.stack.at(-1)!.marked = true;
    return "pushed";
  }

  /** Ends the top frame: undoes its mark on failure, remembers a failure that changed nothing. */
  private pop(installed: boolean): boolean {
    const frame = this.stack.at(-1)!;
    if (!installed && frame.marked) {
      this.unmark(frame.rec);
      if (this.chosen.size === frame.markedBefore) this.failures.set(frame.rec, frame.touched);
    }
    this.stack.pop();
    const parent = this.stack.at(-1);
    if (parent)
      for (const [name, state] of frame.touched)
        if (!parent.touched.has(name)) parent.touched.set(name, state);
    return installed;
  }

  private noteExcluded(alt: Alternative, dependent: string): void {
    const name = this.exclude.has(alt.name)
      ? alt.name
      : (this.excludedCandidates.find((p) => satisfiesByProvides(p, alt))?.name ?? alt.name);
    const hits = this.excludedHits.get(name) ?? new Set<string>();
    hits.add(dependent);
    this.excludedHits.set(name, hits);
  }

  private unsatisfiable(rec: PackageRecord, group: Alternative[]): StrataError {
    const reasons = group.map((alt) => this.explain(alt, new Set()));
    return new StrataError(
      "UNSATISFIABLE",
      `cannot satisfy ${rec.name} (${rec.version}) → ${reasons.join("; or ")} (for ${this.universe.arch})`,
      { hint: "pin another version, add a repository or suite that has it, or exclude the dependency" },
    );
  }

  /** Why an alternative cannot be met, following the first unmet dependency down to its cause. */
  private explain(alt: Alternative, seen: Set<string>): string {
    const label = formatAlternative(alt);
    const cand = this.universe.candidate(alt.name);
    if (!cand) {
      return this.universe.providersOf(alt.name).length > 0
        ? `${label}: no provider satisfies it`
        : `${label}: no such package`;
    }
    if (!satisfiesDirectly(cand, alt, this.universe.arch))
      return `${label}: only ${cand.version} is available`;
    const marked = this.chosen.get(alt.name);
    if (marked && marked !== cand) return `${label}: ${marked.version} is already chosen`;
    const missing = dependencyGroups(cand).find(
      (g) =>
        !g.some(
          (a) => this.isMarkedSatisfying(a) || this.isExcludedSatisfying(a) || this.targetsOf(a).length > 0,
        ),
    );
    if (!missing || seen.has(cand.name) || seen.size > 8) return `${label}: its dependencies cannot be met`;
    seen.add(cand.name);
    return `${cand.name} (${cand.version}) → ${missing.map((a) => this.explain(a, seen)).join("; or ")}`;
  }

  private describe(requested: Set<string>): Resolution {
    const requiredBy = new Map<string, Set<string>>();
    for (const rec of this.chosen.values()) {
      for (const group of dependencyGroups(rec)) {
        for (const alt of group) {
          const direct = this.chosen.get(alt.name);
          if (direct && satisfiesDirectly(direct, alt, this.universe.arch))
            addTo(requiredBy, direct.name, rec.name);
          for (const p of this.chosenProviders.get(alt.name) ?? []) {
            if (satisfiesByProvides(p, alt)) addTo(requiredBy, p.name, rec.name);
          }
        }
      }
    }
    const packages = [...this.chosen.values()]
      .sort((a, b) => compareText(a.name, b.name))
      .map((record) => ({
        record,
        requested: requested.has(record.name),
        requiredBy: [...(requiredBy.get(record.name) ?? [])].filter((n) => n !== record.name).sort(),
      }));
    const excluded = [...this.exclude].sort().map((name) => ({
      name,
      neededBy: [...(this.excludedHits.get(name) ?? [])].sort(),
    }));
    return { arch: this.universe.arch, packages, excluded };
  }

  private checkConflicts(resolution: Resolution): void {
    const arch = this.universe.arch;
    for (const { record: rec } of resolution.packages) {
      for (const [kind, relation] of [
        ["conflicts with", rec.conflicts],
        ["breaks", rec.breaks],
      ] as const) {
        for (const alt of relation.flat()) {
          const direct = this.chosen.get(alt.name);
          const hit =
            direct && direct !== rec && satisfiesDirectly(direct, alt, arch)
              ? direct
              : (this.chosenProviders.get(alt.name) ?? []).find(
                  (p) => p !== rec && satisfiesByProvides(p, alt),
                );
          if (hit) {
            throw new StrataError(
              "CONFLICT",
              `${rec.name} (${rec.version}) ${kind} ${formatAlternative(alt)}, but ${hit.name} (${hit.version}) is needed too`,
              { hint: "pin other versions or exclude one of them" },
            );
          }
        }
      }
    }
  }
}

function addTo(map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key) ?? new Set<string>();
  set.add(value);
  map.set(key, set);
}

/** Pre-Depends first, then Depends: the order apt reads them into its cache. */
function dependencyGroups(rec: PackageRecord): Relation {
  return rec.preDepends.concat(rec.depends);
}

/** apt's CompareProviders for an empty system: Essential first, then higher Priority, then the later package. */
function compareProviders(a: PackageRecord, b: PackageRecord): number {
  if (a.essential !== b.essential) return a.essential ? -1 : 1;
  const pa = PRIORITY_RANK[a.priority ?? ""] ?? 6;
  const pb = PRIORITY_RANK[b.priority ?? ""] ?? 6;
  if (pa !== pb) return pa - pb;
  return compareText(b.name, a.name);
}
