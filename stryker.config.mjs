// `npm run mutation`: Stryker over the code that decides whether bytes, signatures, locks and pods
// are trusted. Slow (tens of minutes), so it is neither in `npm test` nor in CI. Reports go to
// .mutation/ (git-ignored); the scores and the surviving mutants are recorded in BENCHMARKS.md.
import { readFileSync } from "node:fs";

/**
 * `file:first-last`, the lines of the one function of `file` whose declaration line contains
 * `signature`, through its closing brace (the first later line holding only `}` at the same
 * indentation). Found by text, so an edit elsewhere in the file cannot shift what is mutated.
 */
function functionLines(file, signature) {
  const lines = readFileSync(new URL(file, import.meta.url), "utf8").split("\n");
  const first = lines.findIndex((line) => line.includes(signature));
  if (first < 0) throw new Error(`stryker.config.mjs: no "${signature}" in ${file}`);
  const indent = lines[first].match(/^\s*/)[0];
  const last = lines.findIndex((line, i) => i > first && line === `${indent}}`);
  if (last < 0) throw new Error(`stryker.config.mjs: no end of "${signature}" in ${file}`);
  return `${file}:${first + 1}-${last + 1}`;
}

export default {
  packageManager: "npm",
  mutate: [
    // The signed InRelease: signature, dates, Valid-Until, the hashes it vouches for.
    "src/debian/release.ts",
    // A Packages index against the InRelease, and its cache.
    "src/debian/packages-index.ts",
    // A lock's entries against the signed indexes.
    "src/lock/lock-verify.ts",
    // The one digest judgement every verifier makes, and digest syntax.
    "src/util/verify.ts",
    // The registry's digest checks: pulled manifests and blobs, digests a registry reports,
    // manifests a registry stored, attached payloads.
    "src/oci/registry/pull.ts",
    functionLines("src/oci/registry/repository.ts", "private reportedDigest("),
    functionLines("src/oci/registry/push.ts", "async putManifest(reference: string, descriptor"),
    functionLines("src/oci/registry/referrers.ts", "export async function referrerPayload("),
    // Admission's decision: which registries may be asked, and allow or deny for a review.
    functionLines("src/admission/registries.ts", "export function optionsFor("),
    "src/admission/webhook.ts",
  ],
  testRunner: "tap",
  tap: {
    // The unit tests of those modules: loopback servers only, no root, no network.
    testFiles: [
      "test/unit/trust-*.test.ts",
      "test/unit/release.test.ts",
      "test/unit/hostile-network.test.ts",
      "test/unit/lock.test.ts",
      "test/unit/registry-client.test.ts",
      "test/unit/admission.test.ts",
      "test/unit/admission-registries.test.ts",
    ],
    nodeArgs: ["--import", "tsx", "--test-reporter=tap", "-r", "{{hookFile}}", "{{testFile}}"],
  },
  // registry-client.test.ts runs the CLI from dist/: built from the mutated sources, it runs the
  // active mutant too.
  buildCommand: "npm run build",
  ignorePatterns: ["/dist", "/.bench", "/test-artifacts"],
  checkers: ["typescript"],
  tsconfigFile: "tsconfig.json",
  coverageAnalysis: "perTest",
  // Two cores shared with other work.
  concurrency: 2,
  timeoutMS: 30_000,
  reporters: ["clear-text", "html", "json", "progress"],
  htmlReporter: { fileName: ".mutation/report.html" },
  jsonReporter: { fileName: ".mutation/report.json" },
  // A second run re-tests only the mutants whose code or covering tests changed.
  incremental: true,
  incrementalFile: ".mutation/incremental.json",
  tempDirName: ".mutation/tmp",
  cleanTempDir: "always",
  thresholds: { high: 95, low: 90, break: null },
};
