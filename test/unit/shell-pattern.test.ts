import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import fc from "fast-check";
import { matchesPattern, type PatternPiece, trimPattern } from "../../src/debian/shell/pattern.js";

/**
 * The shell-pattern matcher against dash, the /bin/sh maintainer scripts run under: random patterns
 * (stars, ?, brackets, escapes, quoted pieces) and values over a small alphabet, where every
 * difference between a backtracking and an automaton matcher shows up.
 */
const TIMEOUT = { timeout: 60_000 };

const piece = fc.record({
  text: fc.stringMatching(/^(?:[ab/.]|\*|\?|\[!?[ab]\]|\[a-b\]|\\\*)*$/, { maxLength: 8 }),
  quoted: fc.boolean(),
});
const sample = fc.record({
  value: fc.stringMatching(/^[ab/.*]*$/, { maxLength: 10 }),
  pieces: fc
    .array(piece, { minLength: 1, maxLength: 3 })
    .filter((pieces) => pieces.some((p) => p.text !== "")),
});

/** The pattern as dash reads it: quoted pieces in single quotes, the rest as written. */
const shellText = (pieces: PatternPiece[]) =>
  pieces.map((p) => (p.quoted ? `'${p.text.replace(/'/g, "'\\''")}'` : p.text)).join("");

function dashAnswers(samples: { value: string; pieces: PatternPiece[] }[]): string[] {
  const lines = samples.flatMap(({ value, pieces }) => {
    const v = `'${value}'`;
    const p = shellText(pieces);
    return [
      `case ${v} in ${p}) echo y;; *) echo n;; esac`,
      `x=${v}; printf '%s|%s|%s|%s\\n' "\${x#${p}}" "\${x##${p}}" "\${x%${p}}" "\${x%%${p}}"`,
    ];
  });
  return execFileSync("dash", ["-c", lines.join("\n")], { encoding: "utf8" })
    .split("\n")
    .slice(0, -1);
}

test("case arms and ${x#p} ${x##p} ${x%p} ${x%%p} agree with dash on 400 random patterns", TIMEOUT, () => {
  const samples = fc.sample(sample, { numRuns: 400, seed: 20261207 });
  // A bracket that dash reads differently from POSIX (an unmatched `[` inside quotes) is not a case
  // a real script has; every sample here is well formed.
  const expected = dashAnswers(samples);
  samples.forEach(({ value, pieces }, i) => {
    const label = `${JSON.stringify(value)} against ${shellText(pieces)}`;
    assert.equal(matchesPattern(value, pieces) ? "y" : "n", expected[2 * i], label);
    const trims = ["#", "##", "%", "%%"].map((op) => trimPattern(value, op, pieces)).join("|");
    assert.equal(trims, expected[2 * i + 1], label);
  });
});
