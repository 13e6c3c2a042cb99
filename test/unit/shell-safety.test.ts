import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { followScripts } from "../../src/debian/maintscripts.js";
import { ImageTree, MAX_SCRIPT_WRITE_BYTES } from "../../src/debian/shell/tree.js";
import { DEFAULT_ACCOUNTS } from "../../src/spec/accounts.js";

/**
 * Never destructive, by construction: whatever a script computes a path from (an unset variable,
 * an unfollowed command's empty output, "/", "..", a glob), what the layers ship stays: every
 * shipped path keeps its type, its bytes and its link target. Random scripts drive it.
 */
const TIMEOUT = { timeout: 120_000 };

const SHIPPED: Record<string, string | { link: string } | { dir: true }> = {
  etc: { dir: true },
  "etc/passwd": "root:x:0:0::/root:/bin/sh\n",
  "etc/app": { dir: true },
  "etc/app/app.conf": "key = value\n",
  usr: { dir: true },
  "usr/bin": { dir: true },
  "usr/bin/app": "#!/bin/sh\n",
  bin: { link: "usr/bin" },
  var: { dir: true },
  "var/lib": { dir: true },
  "var/lib/app": { dir: true },
  "var/lib/app/data": "data\n",
  tmp: { dir: true },
};

function shippedTree(): ImageTree {
  const t = new ImageTree();
  for (const [path, spec] of Object.entries(SHIPPED)) {
    const base = { mode: 0o755, uid: 0, gid: 0 };
    if (typeof spec === "string") t.ship(path, { ...base, type: "file", body: Buffer.from(spec) });
    else if ("link" in spec) t.ship(path, { ...base, type: "symlink", link: spec.link });
    else t.ship(path, { ...base, type: "dir" });
  }
  return t;
}

const word = fc.constantFrom(
  "/",
  '""',
  "$X",
  '"$X"',
  "$X/",
  "$UNSET/etc",
  "/etc",
  "/etc/*",
  "/etc/app",
  "/etc/app/app.conf",
  "/bin/app",
  "/usr/bin/*",
  "/var/lib/app",
  "../../..",
  "/tmp/made",
  "$(mktemp)",
  "/var/../etc/passwd",
);
const line = fc.oneof(
  word.map((w) => `rm -rf ${w}`),
  word.map((w) => `rmdir ${w}`),
  fc.tuple(word, word).map(([a, b]) => `mv ${a} ${b}`),
  fc.tuple(word, word).map(([a, b]) => `mv -f ${a} ${b}`),
  fc.tuple(word, word).map(([a, b]) => `cp ${a} ${b}`),
  fc.tuple(word, word).map(([a, b]) => `ln -sf ${a} ${b}`),
  word.map((w) => `echo hi > ${w}`),
  word.map((w) => `echo hi >> ${w}`),
  word.map((w) => `unfollowed-tool > ${w}`),
  word.map((w) => `mkdir -p ${w}`),
  word.map((w) => `touch ${w}`),
  word.map((w) => `chmod 600 ${w}`),
  word.map((w) => `dpkg-divert --rename --divert ${w}.real --add ${w}`),
  fc.constant("X=$(unfollowed-tool)"),
  fc.constant("X=/"),
  fc.constant('X=""'),
);

test("random scripts never remove, retype or rewrite a shipped path", TIMEOUT, () => {
  fc.assert(
    fc.property(fc.array(line, { minLength: 1, maxLength: 12 }), (lines) => {
      const tree = shippedTree();
      followScripts([{ name: "pkg", version: "1", architecture: "amd64", postinst: lines.join("\n") }], {
        tree,
        architecture: "amd64",
        accounts: DEFAULT_ACCOUNTS,
      });
      for (const [path, spec] of Object.entries(SHIPPED)) {
        const node = tree.at(path);
        const label = `${path} after:\n${lines.join("\n")}`;
        if (typeof spec === "string") {
          assert.equal(node?.type, "file", label);
          assert.equal(node?.body?.toString(), spec, label);
        } else if ("link" in spec) assert.equal(node?.link, spec.link, label);
        else assert.equal(node?.type, "dir", label);
      }
    }),
    { numRuns: 3000, seed: 16 },
  );
});

test("no script writes dpkg's records: status.d and status stay strata's, however the path is reached", () => {
  const tree = shippedTree();
  tree.ship("var/lib/dpkg/status.d/pkg", {
    type: "file",
    mode: 0o644,
    uid: 0,
    gid: 0,
    body: Buffer.from("Package: pkg\n"),
  });
  const forged = "Package: openssl\nVersion: 99.0\nStatus: install ok installed\n";
  const run = followScripts(
    [
      {
        name: "pkg",
        version: "1",
        architecture: "amd64",
        postinst: [
          `printf '${forged.replace(/\n/g, "\\n")}' > /var/lib/dpkg/status.d/openssl || true`,
          `printf '${forged.replace(/\n/g, "\\n")}' > /var/lib/dpkg/status || true`,
          "mkdir -p /var/lib/dpkg/status.d/x || true",
          "ln -s /etc/passwd /var/lib/dpkg/status.d/evil || true",
          "cp /etc/passwd /var/lib/dpkg/status.d/copy || true",
          "cd /var/lib && echo x > dpkg/status.d/rel || true",
          "ln -s /var/lib/dpkg /tmp/d && echo x > /tmp/d/status.d/via-link || true",
        ].join("\n"),
      },
    ],
    { tree, architecture: "amd64", accounts: DEFAULT_ACCOUNTS },
  );
  assert.deepEqual(
    [...tree.entries()]
      .map(([p]) => p)
      .filter((p) => p.startsWith("var/lib/dpkg"))
      .sort(),
    ["var/lib/dpkg", "var/lib/dpkg/status.d", "var/lib/dpkg/status.d/pkg"],
    JSON.stringify(run.skipped),
  );
});

test("a loop of cp over a large shipped file writes at most the scripts' byte bound", () => {
  const tree = shippedTree();
  const mib = Buffer.alloc(1 << 20, 0x61);
  tree.ship("usr/share/big", { type: "file", mode: 0o644, uid: 0, gid: 0, body: mib });
  const postinst = "i=0\nwhile [ $i -lt 2000 ]; do cp /usr/share/big /tmp/copy$i; i=$((i+1)); done";
  followScripts([{ name: "pkg", version: "1", architecture: "amd64", postinst }], {
    tree,
    architecture: "amd64",
    accounts: DEFAULT_ACCOUNTS,
  });
  const made = [...tree.changed].reduce((sum, p) => sum + (tree.at(p)?.body?.length ?? 0), 0);
  assert.ok(made <= MAX_SCRIPT_WRITE_BYTES, `${made} bytes made`);
  assert.ok(made >= MAX_SCRIPT_WRITE_BYTES - mib.length, "copies up to the bound are made");
});

/**
 * The universe of the random trees below: what a script may name literally. Trees are made as a
 * script would (so everything in them can be removed), a random subset of these paths each run.
 */
const UNIVERSE = ["etc", "srv", "opt"].flatMap((top) => [
  top,
  ...["a", "b"].flatMap((dir) => [`${top}/${dir}`, `${top}/${dir}/f1`, `${top}/${dir}/f2`]),
  `${top}/f3`,
]);

/**
 * A word of a script: its text, and the path it names when its value is known (else undefined), or
 * the relative path it names from the script's working directory.
 */
interface ScriptWord {
  text: string;
  named?: string;
  relative?: string;
}

const literalWord: fc.Arbitrary<ScriptWord> = fc.oneof(
  fc.constantFrom(...UNIVERSE).map((p) => ({ text: `/${p}`, named: `/${p}` })),
  fc.constantFrom("etc", "srv", "etc/a").map((p) => ({ text: `/${p}/*`, named: `/${p}/*` })),
  // Known values expand to known paths: K is /etc/a in every script.
  fc.constantFrom("f1", "f2").map((f) => ({ text: `$K/${f}`, named: `/etc/a/${f}` })),
  fc.constant({ text: `"\${K%/*}"/b`, named: "/etc/b" }),
  {
    arbitrary: fc.constantFrom("etc/a", "etc/a/f1", "srv/*", "f3").map((p) => ({ text: p, relative: p })),
    weight: 3,
  },
);
/** Words whose value depends on an unknown: they must never lead to a removal or a rewrite. */
const unknownWord: fc.Arbitrary<ScriptWord> = fc
  .constantFrom(
    "$U",
    "$U/*",
    '"$U/"',
    "$U/etc",
    "/$V",
    '"$V"/etc/a',
    "$UNSET/etc",
    '"$UNSET/"',
    "$UNSET/*",
    `\${W%/*}/srv`,
    "$(tempfile)/opt",
    "$R/*",
    `\${U:-}/etc/*`,
  )
  .map((text) => ({ text }));
const anyWord = fc.oneof(literalWord, unknownWord);

const PRELUDE = [
  "K=/etc/a",
  "U=$(tempfile)",
  "V=$(not-followed --dir)",
  "W=$(cat /usr/share/unrecorded)",
  "read -r R < /usr/share/unrecorded || true",
  'wipe() { rm -rf "$1"/*; }',
].join("\n");

/** A line of a script; `cd` is the working directory it changes to. */
type ScriptLine = { text: string; words: ScriptWord[]; cd?: string };
const one = (make: (w: string) => string) => anyWord.map((w) => ({ text: make(w.text), words: [w] }));
const two = (make: (a: string, b: string) => string) =>
  fc.tuple(anyWord, anyWord).map(([a, b]) => ({ text: make(a.text, b.text), words: [a, b] }));
const scriptLine: fc.Arbitrary<ScriptLine> = fc.oneof(
  one((w) => `rm -rf ${w}`),
  one((w) => `rm -f ${w}`),
  one((w) => `rmdir ${w}`),
  one((w) => `echo hi > ${w}`),
  one((w) => `echo "$U" >> ${w}`),
  one((w) => `touch ${w}`),
  one((w) => `mkdir -p ${w}`),
  one((w) => `chmod 600 ${w}`),
  one((w) => `dpkg-divert --rename --add ${w}`),
  one((w) => `wipe ${w}`),
  one((w) => `sed -i s/a/b/ ${w}`),
  one((w) => `install -d -m 755 ${w}`),
  one((w) => `chown root:root ${w}`),
  one((w) => `dpkg-statoverride --update --add root root 0700 ${w}`),
  one((w) => `T=$(mktemp -p ${w}); rm -f "$T"`),
  one((w) => `eval "rm -rf ${w.replace(/"/g, '\\"')}"`),
  one((w) => `for x in ${w}; do rm -rf "$x"; done`),
  one((w) => `echo ${w} | while read -r d; do rm -rf "$d"; done`),
  two((a, b) => `mv ${a} ${b}`),
  two((a, b) => `cp ${a} ${b}`),
  two((a, b) => `ln -sf ${a} ${b}`),
  two((a, b) => `install -m 644 ${a} ${b}`),
  two((a, b) => `ucf ${a} ${b}`),
  two((a, b) => `cat ${a} > ${b}`),
  two((a, b) => `update-alternatives --install ${a} alt ${b} 10`),
  two((a, b) => `ln -s ${a} ${b}`),
  {
    arbitrary: fc.constantFrom("/srv", "/etc", "/").map((dir) => ({ text: `cd ${dir}`, words: [], cd: dir })),
    weight: 3,
  },
);

/** The paths a script's lines name literally: relative ones from the directory `cd` left. */
function namedPaths(lines: ScriptLine[]): string[] {
  let cwd = "";
  return lines.flatMap((line) => {
    if (line.cd !== undefined) cwd = line.cd === "/" ? "" : line.cd;
    return line.words.flatMap((w) => (w.named ? [w.named] : w.relative ? [`${cwd}/${w.relative}`] : []));
  });
}

function madeTree(paths: string[]): ImageTree {
  const t = new ImageTree();
  t.ship("usr/share/unrecorded", { type: "file", mode: 0o644, uid: 0, gid: 0 });
  t.ship("tmp", { type: "dir", mode: 0o1777, uid: 0, gid: 0 });
  for (const path of paths) {
    const dir = UNIVERSE.some((p) => p.startsWith(`${path}/`));
    t.writeParents(path);
    if (!t.at(path))
      t.write(path, dir ? { type: "dir", mode: 0o755, uid: 0, gid: 0 } : fileNode(`${path}\n`));
  }
  return t;
}

const fileNode = (body: string) => ({
  type: "file" as const,
  mode: 0o644,
  uid: 0,
  gid: 0,
  body: Buffer.from(body),
});

/** Whether a literal word (a path, or DIR/* ) names `path` or a directory above it. */
function namedBy(path: string, named: string): boolean {
  const base = named.endsWith("/*") ? named.slice(0, -2) : named;
  return named.endsWith("/*") ? path.startsWith(`${base}/`) : path === base || path.startsWith(`${base}/`);
}

test(
  "random scripts remove or rewrite only paths they name literally, never one from an unknown value",
  TIMEOUT,
  () => {
    fc.assert(
      fc.property(
        fc.subarray(UNIVERSE, { minLength: 1 }),
        fc.array(scriptLine, { minLength: 1, maxLength: 10 }),
        (paths, lines) => {
          const tree = madeTree(paths);
          const before = new Map(paths.map((p) => [p, { ...tree.at(p)! }]));
          const script = `${PRELUDE}\n${lines.map((l) => l.text).join("\n")}`;
          followScripts([{ name: "pkg", version: "1", architecture: "amd64", postinst: script }], {
            tree,
            architecture: "amd64",
            accounts: DEFAULT_ACCOUNTS,
          });
          const named = namedPaths(lines);
          for (const [path, node] of before) {
            const after = tree.at(path);
            const same =
              after?.type === node.type &&
              after.link === node.link &&
              (after.body ?? Buffer.alloc(0)).equals(node.body ?? Buffer.alloc(0));
            if (same) continue;
            assert.ok(
              named.some((n) => namedBy(`/${path}`, n)),
              `/${path} was removed or rewritten, but the script names it nowhere:\n${script}`,
            );
          }
        },
      ),
      { numRuns: 400, seed: 16 },
    );
  },
);
