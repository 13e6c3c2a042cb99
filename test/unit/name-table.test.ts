import assert from "node:assert/strict";
import { test } from "node:test";
import { buildNameTable, NameTable } from "../../src/debian/name-table.js";

const NAMES = ["fo", "foo", "foo-bar", "foo+", "a", "zz", "lib0", "foo"];

/** Stanzas named NAMES (foo twice), each providing "virt" and its own name plus "-v". */
function packagesText(): Buffer {
  const stanzas = NAMES.map((n, i) => `Package: ${n}\nVersion: ${i}\nProvides: virt, ${n}-v (= 1)`);
  return Buffer.from(`${stanzas.join("\n\n")}\n`);
}

function stanzaOf(text: Buffer, [start, end]: [number, number]): string {
  return text.toString("utf8", start, end);
}

test("the name table finds every name, virtual name and duplicate in file order, and nothing else", () => {
  const text = packagesText();
  const table = buildNameTable(text, "f".repeat(64));
  assert.equal(table.packagesSha256, "f".repeat(64));
  assert.deepEqual(
    table.packages("foo").map((s) => stanzaOf(text, s).split("\n")[1]),
    ["Version: 1", "Version: 7"],
  );
  for (const n of NAMES) {
    assert.ok(
      table.packages(n).every((s) => stanzaOf(text, s).startsWith(`Package: ${n}\n`)),
      n,
    );
    assert.equal(table.provides(`${n}-v`).length, n === "foo" ? 2 : 1, n);
  }
  assert.equal(table.provides("virt").length, NAMES.length);
  for (const missing of ["", "f", "fooo", "foo-", "virt", "zzz", "0"])
    assert.deepEqual(table.packages(missing), []);
  assert.deepEqual(new Set(table.names()), new Set(NAMES));
});

test("a cached name table that does not hold spans is refused with a hint, not trusted", () => {
  const table = new NameTable(Buffer.from(`#\t${"f".repeat(64)}\nP\tfoo\t9,3\n`));
  assert.throws(() => table.packages("foo"), /is not a span/);
  assert.deepEqual(new NameTable(Buffer.alloc(0)).packages("foo"), []);
});
