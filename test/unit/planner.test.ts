import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { canonicalOrder, planLayers } from "../../src/layers/planner.js";
import type { LockedPackage } from "../../src/lock/lock.js";

function pkg(name: string, size: number, requiredBy: string[] = [], priority = "optional"): LockedPackage {
  return {
    name,
    version: "1",
    arch: "amd64",
    architecture: "amd64",
    source: name,
    sourceVersion: "1",
    priority,
    sha256: name.padEnd(64, "0"),
    size,
    filename: `pool/${name}.deb`,
    repository: "http://127.0.0.1/debian",
    suite: "test",
    component: "main",
    reason: requiredBy.length ? "dependency" : "requested",
    requiredBy,
  };
}

const names = (ps: { name: string }[]) => ps.map((p) => p.name);

describe("layer planner", () => {
  const set = [
    pkg("app", 10),
    pkg("libssl", 300, ["app", "python"]),
    pkg("python", 200, ["app"]),
    pkg("libc", 500, ["libssl", "python", "gcc-base"], "required"),
    pkg("gcc-base", 5, ["libc"], "required"),
    pkg("tzdata", 50, ["app"]),
  ];

  it("orders dependencies first, breaking cycles by Priority then name", () => {
    assert.deepEqual(names(canonicalOrder(set)), ["gcc-base", "libc", "libssl", "python", "tzdata", "app"]);
  });

  it("gives the same order whatever order the lock lists packages in", () => {
    assert.deepEqual(names(canonicalOrder([...set].reverse())), names(canonicalOrder(set)));
  });

  it("keeps one layer per package within the budget", () => {
    const plan = planLayers(set, 100);
    assert.equal(plan.length, set.length);
    assert.ok(plan.every((l) => l.kind === "package"));
  });

  it("over budget, keeps the packages most of the image needs alone and groups the rest by name", () => {
    const plan = planLayers(set, 5); // 3 package slots: 2 alone + 1 group
    assert.deepEqual(
      plan.map((l) => names(l.packages)),
      [["gcc-base"], ["libc"], ["app", "libssl", "python", "tzdata"]],
    );
    assert.deepEqual(
      planLayers(set, 6).map((l) => names(l.packages)),
      [["gcc-base"], ["libc"], ["libssl"], ["app", "python", "tzdata"]],
    );
  });

  it("never regroups when versions, sizes or .debs change (property)", () => {
    const graph = fc
      .uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{1,6}$/), { minLength: 1, maxLength: 30 })
      .chain((pkgNames) =>
        fc.record({
          pkgNames: fc.constant(pkgNames),
          edges: fc.array(fc.tuple(fc.nat(pkgNames.length - 1), fc.nat(pkgNames.length - 1))),
          priorities: fc.array(fc.constantFrom("required", "important", "optional"), {
            minLength: pkgNames.length,
            maxLength: pkgNames.length,
          }),
          before: fc.array(fc.integer({ min: 1, max: 2 ** 30 }), {
            minLength: pkgNames.length,
            maxLength: pkgNames.length,
          }),
          after: fc.array(fc.integer({ min: 1, max: 2 ** 30 }), {
            minLength: pkgNames.length,
            maxLength: pkgNames.length,
          }),
          budget: fc.integer({ min: 3, max: 40 }),
        }),
      );
    fc.assert(
      fc.property(graph, ({ pkgNames, edges, priorities, before, after, budget }) => {
        const lock = (sizes: number[], version: string) =>
          pkgNames.map((n, i) => {
            const requiredBy = [
              ...new Set(edges.filter(([, to]) => to === i).map(([from]) => pkgNames[from])),
            ];
            const p = pkg(n, sizes[i], requiredBy.filter((d) => d !== n).sort(), priorities[i]);
            return { ...p, version, sha256: `${version}${n}`.padEnd(64, "f") };
          });
        const shape = (plan: ReturnType<typeof planLayers>) =>
          plan.map((l) => `${l.kind}:${names(l.packages)}`);
        assert.deepEqual(
          shape(planLayers(lock(after, "2"), budget)),
          shape(planLayers(lock(before, "1"), budget)),
        );
      }),
      { numRuns: 300 },
    );
  });

  it("puts everything in one group at the smallest budget", () => {
    const plan = planLayers(set, 3);
    assert.equal(plan.length, 1);
    assert.equal(plan[0].kind, "group");
    assert.equal(plan[0].packages.length, set.length);
  });
});
