import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildNameTable } from "../../src/debian/name-table.js";
import { PackagesIndex } from "../../src/debian/packages-index.js";
import { Resolver } from "../../src/debian/resolver.js";
import { Universe } from "../../src/debian/universe.js";
import { isStrataError } from "../../src/util/errors.js";

/** A universe from compact stanzas: "name version [Field: value; Field: value]". */
function universe(lines: string[], arch = "amd64"): Universe {
  const text = lines
    .map((line) => {
      const [name, version, ...fieldParts] = line.split(" ");
      const fields = fieldParts
        .join(" ")
        .split(";")
        .map((f) => f.trim())
        .filter(Boolean);
      if (!fields.some((f) => f.startsWith("Architecture:"))) fields.push(`Architecture: ${arch}`);
      const stanza = [
        `Package: ${name}`,
        `Version: ${version}`,
        ...fields,
        `Filename: pool/${name}_${version}.deb`,
      ];
      return `${[...stanza, "Size: 1", `SHA256: ${"0".repeat(64)}`].join("\n")}\n`;
    })
    .join("\n");
  const buf = Buffer.from(text);
  const index = new PackagesIndex(
    { url: "http://127.0.0.1/debian", suite: "test", component: "main", arch },
    buf,
    buildNameTable(buf, "test"),
  );
  return new Universe(arch, [index]);
}

function resolveNames(u: Universe, packages: string[]): string[] {
  const res = new Resolver(u, new Set()).resolve(packages.map((name) => ({ name })));
  return res.packages.map((p) => `${p.record.name}=${p.record.version}`);
}

describe("resolver", () => {
  it("takes the highest version and follows Depends and Pre-Depends", () => {
    const u = universe(["app 1.0 Depends: lib (>= 2)", "lib 1.0", "lib 2.5 Pre-Depends: base", "base 1"]);
    assert.deepEqual(resolveNames(u, ["app"]), ["app=1.0", "base=1", "lib=2.5"]);
  });

  it("takes the first installable alternative of an or-group", () => {
    const u = universe(["app 1 Depends: missing | second | third", "second 1", "third 1"]);
    assert.deepEqual(resolveNames(u, ["app"]), ["app=1", "second=1"]);
  });

  it("skips an alternative whose own dependencies cannot be met", () => {
    const u = universe(["app 1 Depends: broken | good", "broken 1 Depends: ghost", "good 1"]);
    assert.deepEqual(resolveNames(u, ["app"]), ["app=1", "good=1"]);
  });

  it("prefers a real package over a virtual one of the same name", () => {
    const u = universe(["app 1 Depends: mail", "mail 1", "postfix 1 Provides: mail; Priority: required"]);
    assert.deepEqual(resolveNames(u, ["app"]), ["app=1", "mail=1"]);
  });

  it("orders providers of a virtual package by Essential, then Priority", () => {
    const u = universe([
      "app 1 Depends: awk",
      "gawk 1 Provides: awk; Priority: optional",
      "mawk 1 Provides: awk; Priority: required",
    ]);
    assert.deepEqual(resolveNames(u, ["app"]), ["app=1", "mawk=1"]);
  });

  it("needs a versioned Provides for a versioned dependency", () => {
    const u = universe([
      "app 1 Depends: api (>= 2)",
      "old 1 Provides: api; Priority: required",
      "new 1 Provides: api (= 2.1)",
    ]);
    assert.deepEqual(resolveNames(u, ["app"]), ["app=1", "new=1"]);
  });

  it("honours arch qualifiers: :any needs Multi-Arch: allowed", () => {
    const u = universe(["app 1 Depends: perl:any | fallback", "perl 1", "fallback 1"]);
    assert.deepEqual(resolveNames(u, ["app"]), ["app=1", "fallback=1"]);
    const v = universe(["app 1 Depends: perl:any", "perl 1 Multi-Arch: allowed"]);
    assert.deepEqual(resolveNames(v, ["app"]), ["app=1", "perl=1"]);
  });

  it("accepts Architecture: all packages in any image architecture", () => {
    const u = universe(["app 1 Depends: data", "data 1 Architecture: all"], "arm64");
    assert.deepEqual(resolveNames(u, ["app"]), ["app=1", "data=1"]);
  });

  it("counts a dependency on an excluded package as met and records who wanted it", () => {
    const u = universe([
      "app 1 Depends: debconf (>= 1) | debconf-2.0, libc",
      "libc 1 Pre-Depends: dpkg",
      "dpkg 1",
      "debconf 1",
    ]);
    const res = new Resolver(u, new Set(["debconf", "dpkg"])).resolve([{ name: "app" }]);
    assert.deepEqual(
      res.packages.map((p) => p.record.name),
      ["app", "libc"],
    );
    assert.deepEqual(res.excluded, [
      { name: "debconf", neededBy: ["app"] },
      { name: "dpkg", neededBy: ["libc"] },
    ]);
  });

  it("does not imply Essential packages", () => {
    const u = universe(["app 1", "bash 5 Essential: yes"]);
    assert.deepEqual(resolveNames(u, ["app"]), ["app=1"]);
  });

  it("records why each package is there", () => {
    const u = universe(["app 1 Depends: lib", "tool 1 Depends: lib", "lib 1"]);
    const res = new Resolver(u, new Set()).resolve([{ name: "app" }, { name: "tool" }]);
    const lib = res.packages.find((p) => p.record.name === "lib")!;
    assert.deepEqual(lib.requiredBy, ["app", "tool"]);
    assert.equal(lib.requested, false);
    assert.equal(res.packages.find((p) => p.record.name === "app")!.requested, true);
  });

  it("reports an unsatisfiable dependency with the chain that needs it", () => {
    const u = universe(["app 1 Depends: mid", "mid 2 Depends: leaf (>= 3)", "leaf 1"]);
    assert.throws(
      () => resolveNames(u, ["app"]),
      (err: unknown) =>
        isStrataError(err, "UNSATISFIABLE") &&
        /app \(1\) → mid \(2\) → leaf \(>= 3\): only 1 is available/.test(err.message) &&
        /leaf \(>= 3\)/.test(err.message) &&
        /only 1 is available/.test(err.message),
    );
  });

  it("suggests close names for an unknown package", () => {
    const u = universe(["python3 1", "python3-venv 1", "perl 1"]);
    assert.throws(
      () => resolveNames(u, ["pyhton3"]),
      (err: unknown) => isStrataError(err, "PACKAGE_UNKNOWN") && /python3/.test(err.hint ?? ""),
    );
  });

  it("refuses Conflicts and Breaks among the chosen packages", () => {
    const u = universe(["a 1 Depends: b", "b 1 Breaks: c (<< 2)", "c 1"]);
    assert.throws(
      () => resolveNames(u, ["a", "c"]),
      (err: unknown) => isStrataError(err, "CONFLICT") && /b \(1\) breaks c \(<< 2\)/.test(err.message),
    );
  });

  it("installs a pinned version when asked", () => {
    const u = universe(["lib 1", "lib 2"]);
    const res = new Resolver(u, new Set()).resolve([{ name: "lib", version: "1" }]);
    assert.equal(res.packages[0].record.version, "1");
  });

  it("gives up 30 levels of a | b alternatives over an unsatisfiable bottom in well under a second", () => {
    const levels = 30;
    const lines = ["app 1 Depends: b1 | c1, good"];
    for (let i = 1; i <= levels; i++) {
      const below = i === levels ? "ghost (>= 2)" : `b${i + 1} | c${i + 1}`;
      lines.push(`b${i} 1 Depends: ${below}`, `c${i} 1 Depends: ${below}`);
    }
    lines.push("ghost 1", "good 1");
    const started = performance.now();
    assert.throws(
      () => resolveNames(universe(lines), ["app"]),
      (err: unknown) => isStrataError(err, "UNSATISFIABLE") && /app \(1\) → b1/.test(err.message),
    );
    lines[0] = "app 1 Depends: b1 | c1 | good";
    assert.deepEqual(resolveNames(universe(lines), ["app"]), ["app=1", "good=1"]);
    assert.ok(performance.now() - started < 1000, `took ${performance.now() - started} ms`);
  });

  it("resolves a dependency chain 2,000 deep without overflowing the stack", () => {
    const depth = 2000;
    const lines = Array.from({ length: depth }, (_, i) =>
      i + 1 < depth ? `p${i} 1 Depends: p${i + 1}` : `p${i} 1`,
    );
    const names = resolveNames(universe(lines), ["p0"]);
    assert.equal(names.length, depth);
    assert.ok(names.includes(`p${depth - 1}=1`));
  });

  it("tries a candidate again once a package marked since its failure meets what it lacked", () => {
    // x fails first (p needs q >= 2), fallback is chosen and provides q (= 2), so x then installs.
    const u = universe([
      "app 1 Depends: x | fallback, x",
      "x 1 Depends: p",
      "p 1 Depends: q (>= 2)",
      "q 1",
      "fallback 1 Provides: q (= 2)",
    ]);
    assert.deepEqual(resolveNames(u, ["app"]), ["app=1", "fallback=1", "p=1", "x=1"]);
  });
});
