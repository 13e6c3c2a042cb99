import assert from "node:assert/strict";
import { describe, it } from "node:test";
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

  it("over budget, keeps the big shared packages alone and groups the rest by name", () => {
    const plan = planLayers(set, 5); // 3 package slots: 2 alone + 1 group
    assert.equal(plan.length, 3);
    assert.deepEqual(
      plan.map((l) => names(l.packages)),
      [["libc"], ["libssl"], ["app", "gcc-base", "python", "tzdata"]],
    );
  });

  it("puts everything in one group at the smallest budget", () => {
    const plan = planLayers(set, 3);
    assert.equal(plan.length, 1);
    assert.equal(plan[0].kind, "group");
    assert.equal(plan[0].packages.length, set.length);
  });
});
