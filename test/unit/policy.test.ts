import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decisionValidUntil, evaluatePolicy, type ImageFacts } from "../../src/policy/evaluate.js";
import { parsePolicy } from "../../src/policy/policy.js";
import { testFinding } from "../helpers/findings.js";

/** The issue's example policy, verbatim. */
const ISSUE_POLICY = `deny:
  fixable: { severity: medium, after-days: 0 }   # a fix exists at or above this severity
  unfixed: { severity: critical }                # no fix yet (from the feeds)
  packages: ["telnetd", "openssl << 3.0.15-1~deb12u1"]
require: { built-by-strata: true, sbom: true, digest: true }
exemptions:
  - { cve: CVE-2026-12345, reason: "not reachable", expires: 2027-01-31 }
  - { image: registry.example/app, package: libxml2, reason: "parser unused", expires: 2027-01-31 }
`;

const finding = testFinding;

function facts(over: Partial<ImageFacts>): ImageFacts {
  return {
    reference: "registry.example/app@sha256:" + "a".repeat(64),
    repository: "registry.example/app",
    pinned: true,
    builtByStrata: true,
    hasSbom: true,
    packages: [{ name: "libssl3", version: "3.0.15-1~deb12u1" }],
    findings: [],
    ...over,
  };
}

const BEFORE_EXPIRY = new Date("2027-01-31T23:00:00Z");
const AFTER_EXPIRY = new Date("2027-02-01T00:00:00Z");

describe("policy file", () => {
  it("reads the documented example", () => {
    const policy = parsePolicy(ISSUE_POLICY, "policy.yaml");
    assert.deepEqual(policy.fixable, { severity: "medium", afterDays: 0 });
    assert.deepEqual(policy.unfixed, { severity: "critical" });
    assert.deepEqual(
      policy.packages.map((r) => [r.name, r.op, r.version]),
      [
        ["telnetd", undefined, undefined],
        ["openssl", "<<", "3.0.15-1~deb12u1"],
      ],
    );
    assert.deepEqual(policy.require, {
      builtByStrata: true,
      sbom: true,
      digest: true,
      signedBy: [],
      provenance: false,
      coverage: false,
    });
    assert.equal(policy.exemptions[0].expiresAt.toISOString(), "2027-02-01T00:00:00.000Z");
  });

  it("says where a policy is wrong, as file:line:col", () => {
    const cases: [string, RegExp][] = [
      ["deny:\n  fixable: { severity: severe }\n", /^p\.yaml:2:24: deny\.fixable\.severity: /],
      [
        'deny:\n  packages: ["openssl <<< 3"]\n',
        /^p\.yaml:2:14: deny\.packages\.0: "openssl <<< 3" is not a package name/,
      ],
      ["require: { sbom: yes-please }\n", /require\.sbom: /],
      [
        "exemptions:\n  - { cve: CVE-2026-1, reason: x, expires: 2027-01-31 }\n",
        /exemptions\.0\.cve: must be a CVE id/,
      ],
      [
        "exemptions:\n  - { cve: CVE-2026-12345, reason: x, expires: 2027-02-31 }\n",
        /expires: is not a calendar date/,
      ],
      [
        "exemptions:\n  - { cve: CVE-2026-12345, reason: x, expires: 2027-13-45 }\n",
        /expires: is not a calendar date/,
      ],
      ["exemptions:\n  - { image: a/b, reason: x, expires: 2027-01-31 }\n", /needs a cve or a package/],
      ["deny: {}\nallow: []\n", /unknown key "allow"/],
      ["deny: [\n", /^p\.yaml: /],
    ];
    for (const [text, why] of cases) {
      assert.throws(
        () => parsePolicy(text, "p.yaml"),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, "POLICY_INVALID");
          assert.match(err.message, why);
          return true;
        },
      );
    }
  });
});

describe("policy decisions", () => {
  const policy = parsePolicy(ISSUE_POLICY, "policy.yaml");

  it("denies a fixable finding at or above the severity, with the fix and where it is", () => {
    const d = evaluatePolicy(policy, facts({ findings: [finding({ id: "CVE-2025-9230" })] }), BEFORE_EXPIRY);
    assert.equal(d.allowed, false);
    assert.deepEqual(
      d.violations.map((v) => v.message),
      [
        "CVE-2025-9230 (high) in libssl3 3.0.15-1~deb12u1: fixed in 3.0.17-1~deb12u3 (available in bookworm-security)",
      ],
    );
  });

  it("lets low findings, and unfixed ones below critical, pass", () => {
    const d = evaluatePolicy(
      policy,
      facts({
        findings: [
          finding({ id: "CVE-2025-0001", severity: "low" }),
          finding({ id: "CVE-2025-0002", severity: "high", status: "open", fixedVersion: undefined }),
        ],
      }),
    );
    assert.equal(d.allowed, true);
    const critical = finding({
      id: "CVE-2025-0003",
      severity: "critical",
      status: "open",
      fixedVersion: undefined,
    });
    assert.match(
      evaluatePolicy(policy, facts({ findings: [critical] })).violations[0].message,
      /no fix yet \(open\)/,
    );
  });

  it("waits after-days from the fix's date before denying", () => {
    const waiting = parsePolicy("deny:\n  fixable: { severity: low, after-days: 7 }\n", "p.yaml");
    const f = finding({ id: "CVE-2025-0004", fixedSince: "2026-12-01T00:00:00.000Z" });
    assert.equal(
      evaluatePolicy(waiting, facts({ findings: [f] }), new Date("2026-12-05T00:00:00Z")).allowed,
      true,
    );
    assert.equal(
      evaluatePolicy(waiting, facts({ findings: [f] }), new Date("2026-12-09T00:00:00Z")).allowed,
      false,
    );
  });

  it("denies packages by name and dpkg relation", () => {
    const d = evaluatePolicy(
      policy,
      facts({
        packages: [
          { name: "telnetd", version: "0.17-44" },
          { name: "openssl", version: "3.0.14-1~deb12u2" },
          { name: "libssl3", version: "3.0.14-1~deb12u2" },
        ],
      }),
    );
    assert.deepEqual(
      d.violations.map((v) => v.message),
      [
        'telnetd 0.17-44 is denied ("telnetd")',
        'openssl 3.0.14-1~deb12u2 is denied ("openssl << 3.0.15-1~deb12u1")',
      ],
    );
    const fixed = facts({ packages: [{ name: "openssl", version: "3.0.15-1~deb12u1" }] });
    assert.equal(evaluatePolicy(policy, fixed).allowed, true);
  });

  it("requires strata's build, an SBOM and a digest when told to", () => {
    const d = evaluatePolicy(
      policy,
      facts({
        reference: "docker.io/library/debian:12",
        pinned: false,
        builtByStrata: false,
        hasSbom: undefined,
      }),
    );
    assert.deepEqual(
      d.violations.map((v) => v.rule),
      ["built-by-strata", "sbom", "digest"],
    );
  });

  it("with require.coverage, denies an image whose release nothing covers, naming it; without, passes and says unknown", () => {
    const uncovered = { release: "trixie", covered: false, sources: [] };
    const covering = parsePolicy("require: { coverage: true }\n", "p.yaml");
    const denied = evaluatePolicy(covering, facts({ coverage: uncovered }));
    assert.equal(denied.allowed, false);
    assert.deepEqual(
      denied.violations.map((v) => v.rule),
      ["coverage"],
    );
    assert.match(denied.violations[0].message, /vulnerabilities unknown: no advisories cover trixie/);
    assert.equal(evaluatePolicy(covering, facts({})).allowed, false, "a release not told is not covered");
    const tracker = { release: "trixie", location: "t.json", kind: "tracker" as const, suites: [] };
    assert.equal(
      evaluatePolicy(covering, facts({ coverage: { ...uncovered, covered: true, sources: [tracker] } }))
        .allowed,
      true,
    );
    const lenient = evaluatePolicy(parsePolicy("{}\n", "p.yaml"), facts({ coverage: uncovered }));
    assert.equal(lenient.allowed, true);
    assert.match(lenient.unknown ?? "", /^vulnerabilities unknown: no advisories cover trixie/);
    const untold = evaluatePolicy(parsePolicy("{}\n", "p.yaml"), facts({}));
    assert.equal(untold.allowed, true);
    assert.match(untold.unknown ?? "", /^vulnerabilities unknown: its Debian release is not known/);
    assert.equal(evaluatePolicy(parsePolicy("{}\n", "p.yaml"), facts({ packages: [] })).unknown, undefined);
  });

  it("exempts a CVE until its expiry passes, then denies and says the exemption expired", () => {
    const image = facts({ findings: [finding({})] });
    const before = evaluatePolicy(policy, image, BEFORE_EXPIRY);
    assert.equal(before.allowed, true);
    assert.equal(before.exempted[0].reason, "not reachable");
    const after = evaluatePolicy(policy, image, AFTER_EXPIRY);
    assert.equal(after.allowed, false);
    assert.deepEqual(after.expired, [
      'the exemption of CVE-2026-12345 ("not reachable") expired on 2027-01-31',
    ]);
  });

  it("exempts a package only in the image the exemption names", () => {
    const xml = finding({ id: "CVE-2025-1111", package: "libxml2", source: "libxml2" });
    assert.equal(evaluatePolicy(policy, facts({ findings: [xml] }), BEFORE_EXPIRY).allowed, true);
    const other = facts({
      findings: [xml],
      repository: "registry.example/other",
      reference: "registry.example/other:1",
    });
    assert.equal(evaluatePolicy(policy, other, BEFORE_EXPIRY).allowed, false);
  });
});

describe("how long a decision holds", () => {
  const policy = parsePolicy(
    `deny:\n  fixable: { severity: medium, after-days: 7 }\nexemptions:\n  - { cve: CVE-2026-99999, reason: "not reachable", expires: 2027-01-31 }\n`,
    "p.yaml",
  );
  const now = new Date("2027-01-10T12:00:00Z");

  it("until a fixed finding's grace period ends, which flips the decision then", () => {
    const young = facts({ findings: [finding({ fixedSince: "2027-01-05T00:00:00Z" })] });
    const until = decisionValidUntil(policy, young, now);
    assert.equal(new Date(until).toISOString(), "2027-01-12T00:00:00.000Z");
    assert.equal(evaluatePolicy(policy, young, new Date(until - 1)).allowed, true);
    assert.equal(evaluatePolicy(policy, young, new Date(until)).allowed, false);
  });

  it("until a live exemption expires; forever when nothing depends on time", () => {
    const low = facts({ findings: [finding({ severity: "low", fixedSince: "2027-01-09T00:00:00Z" })] });
    assert.equal(new Date(decisionValidUntil(policy, low, now)).toISOString(), "2027-02-01T00:00:00.000Z");
    const none = parsePolicy("deny:\n  unfixed: { severity: critical }\n", "p.yaml");
    assert.equal(decisionValidUntil(none, low, now), Number.POSITIVE_INFINITY);
  });
});
