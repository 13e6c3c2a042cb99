import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import fc from "fast-check";
import { followScripts } from "../../src/debian/maintscripts.js";
import { matchesPattern, type PatternPiece, trimPattern } from "../../src/debian/shell/pattern.js";
import { ImageTree } from "../../src/debian/shell/tree.js";
import { DEFAULT_ACCOUNTS } from "../../src/spec/accounts.js";

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

test("case arms and the #, ##, % and %% trims agree with dash on 400 random patterns", TIMEOUT, () => {
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

test(
  "getopts walks options as dash does: groups, values joined or apart, unknown letters, -- and operands",
  TIMEOUT,
  () => {
    const loop =
      'while getopts "ds:m:SMqv:V" opt; do printf "%s=%s " "$opt" "$OPTARG"; OPTARG=; done; echo "ind=$OPTIND"';
    const vectors = [
      ["-q", "-v", "8.2", "-m", "-r", "readline"],
      ["-qv8.2", "-s", "cli", "-m", "opcache"],
      ["-S", "-M", "-x", "--", "-q"],
      ["operand", "-q"],
      ["-mfoo", "-V"],
      [],
    ];
    for (const argv of vectors) {
      const quoted = argv.map((a) => `'${a}'`).join(" ");
      const expected = execFileSync("dash", ["-c", `set -- ${quoted}\n${loop}`], { encoding: "utf8" });
      const tree = new ImageTree();
      tree.ship("etc", { type: "dir", mode: 0o755, uid: 0, gid: 0 });
      const postinst = `set -- ${quoted}\n{ ${loop}; } > /etc/out`;
      followScripts([{ name: "p", version: "1", architecture: "amd64", postinst }], {
        tree,
        architecture: "amd64",
        accounts: DEFAULT_ACCOUNTS,
      });
      assert.equal(tree.at("etc/out")?.body?.toString(), expected, argv.join(" "));
    }
  },
);

/** What a script prints when followed (its output redirected to a file of the tree). */
function followedOutput(script: string): string | undefined {
  const tree = new ImageTree();
  tree.ship("etc", { type: "dir", mode: 0o755, uid: 0, gid: 0 });
  followScripts([{ name: "p", version: "1", architecture: "amd64", postinst: `{ ${script}\n} > /etc/out` }], {
    tree,
    architecture: "amd64",
    accounts: DEFAULT_ACCOUNTS,
  });
  return tree.at("etc/out")?.body?.toString();
}

test("field splitting and read follow IFS as dash does: empty fields between delimiters, white space runs, IFS empty", () => {
  const show = 'echo "$#"; for f in "$@"; do echo "[$f]"; done';
  const vectors = [
    `IFS=:; X="a::b:"; set -- $X; ${show}`,
    `IFS=:; X=":a"; set -- x$X; ${show}`,
    `IFS='#'; P="##/bin/sh#/usr/bin/sh#"; set -- \${P###}; ${show}`,
    `IFS=" :"; X=" :a  b: "; set -- $X; ${show}`,
    `IFS=; X="a b"; set -- $X; ${show}`,
    `X="  a  b "; set -- x$X; ${show}`,
    `unset IFS; X="a	b"; set -- $X; ${show}`,
    `printf 'a#b#c\\n' | { IFS='#' read -r x y; echo "[$x][$y]"; }`,
    `printf '# comment\\n/bin/sh # login\\n' | while IFS='#' read -r line _; do echo "[$line]"; done`,
    `printf '  a b  \\n' | { IFS= read -r l; echo "[$l]"; }`,
    `printf '  a   b  c \\n' | { read -r x y; echo "[$x][$y]"; }`,
    `printf 'a:b\\n' | { IFS=: read -r x y z; echo "[$x][$y][$z]"; }`,
  ];
  for (const script of vectors) {
    const expected = execFileSync("dash", ["-c", script], { encoding: "utf8" });
    assert.equal(followedOutput(script), expected, script);
  }
});
