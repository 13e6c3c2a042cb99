import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { isolatedEnv, runStrata } from "../helpers/cli.js";

/**
 * Files a user names on the command line (a policy, a feed, a pod list, PEMs, a CA file) are read
 * as regular files within a bound: /dev/zero or a FIFO is one line, at once, never a read without
 * end or a hang.
 */

let dir = "";
let env: Record<string, string> = {};
const files: Record<string, string> = {};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "strata-named-"));
  env = await isolatedEnv();
  files.fifo = join(dir, "fifo");
  execFileSync("mkfifo", [files.fifo]);
  files.policy = join(dir, "policy.yaml");
  await writeFile(files.policy, "deny: {}\n");
  files.pods = join(dir, "pods.json");
  await writeFile(files.pods, '{"items": []}\n');
});

const cases: [string, (file: string) => string[]][] = [
  ["--policy of check", (f) => ["check", "oci:/nonexistent", "--policy", f]],
  ["--from of advisories update", (f) => ["advisories", "update", "--from", f, "--index", join(dir, "i.db")]],
  ["--pods of audit", (f) => ["audit", "--pods", f, "--policy", files.policy, "--index", join(dir, "i.db")]],
  ["--policy of audit", (f) => ["audit", "--pods", files.pods, "--policy", f, "--index", join(dir, "i.db")]],
  [
    "--tls-cert of admission serve",
    (f) => [
      "admission",
      "serve",
      "--policy",
      files.policy,
      "--tls-cert",
      f,
      "--tls-key",
      f,
      "--listen",
      "127.0.0.1:0",
    ],
  ],
  ["--ca-file of pull", (f) => ["pull", "docker://127.0.0.1:9/x:1", "-o", join(dir, "out"), "--ca-file", f]],
];

describe("files named on the command line", { timeout: 120_000 }, () => {
  for (const [what, args] of cases) {
    test(`${what}: /dev/zero and a FIFO are refused with one line, at once`, async () => {
      for (const file of ["/dev/zero", files.fifo]) {
        const r = await runStrata(args(file), { env });
        // 1, or 2 where the file is the flag's mistake (a usage error).
        assert.ok(r.code === 1 || r.code === 2, r.stderr);
        const errors = r.stderr.split("\n").filter((l) => l.startsWith("strata: error: "));
        assert.equal(errors.length, 1, r.stderr);
        assert.match(errors[0], /not a regular file/);
        assert.doesNotMatch(r.stderr, /^\s+at /m);
      }
    });
  }
});
