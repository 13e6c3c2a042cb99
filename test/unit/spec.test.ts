import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_ACCOUNTS, specAccounts } from "../../src/spec/accounts.js";
import { buildEpoch, DEFAULT_EXCLUDES, MAX_EPOCH, parseSpec } from "../../src/spec/spec.js";
import { isStrataError } from "../../src/util/errors.js";

const repo = "repositories:\n  - url: http://127.0.0.1:1/debian\n    suites: [bookworm]\n";

function specError(text: string): string {
  try {
    parseSpec(text, "/x/strata.yaml");
  } catch (err) {
    assert.ok(isStrataError(err, "SPEC_INVALID"), String(err));
    return err.message;
  }
  assert.fail("expected SPEC_INVALID");
}

describe("spec", () => {
  it("fills in defaults: components, keyring, compression, layer budget and excludes", () => {
    const spec = parseSpec(`${repo}archs: [amd64]\npackages: [python3]\n`, "/x/strata.yaml");
    assert.deepEqual(spec.repositories[0].components, ["main"]);
    assert.equal(spec.repositories[0].keyring, "/usr/share/keyrings/debian-archive-keyring.gpg");
    assert.deepEqual(spec.layers, { max: 100, compression: "gzip" });
    assert.deepEqual(spec.exclude, DEFAULT_EXCLUDES);
    assert.equal(spec.excludeFromSpec, false);
    assert.equal(spec.docs, false);
  });

  it("lets exclude: [] turn the default excludes off", () => {
    const spec = parseSpec(`${repo}packages: [python3]\nexclude: []\n`, "/x/strata.yaml");
    assert.deepEqual(spec.exclude, []);
    assert.equal(spec.excludeFromSpec, true);
  });

  it("reads repositories from the host's apt sources when the spec has none", () => {
    const spec = parseSpec("packages: [python3]\n", "/x/strata.yaml");
    assert.equal(spec.repositoriesFromHost, true);
    assert.ok(spec.repositories.length > 0);
  });

  it("moves every repository to a --mirror host, keeping their paths", () => {
    const spec = parseSpec(
      "repositories:\n  - { url: http://127.0.0.1:1/debian, suites: [bookworm] }\n  - { url: http://127.0.0.1:1/debian-security, suites: [bookworm-security] }\npackages: [python3]\n",
      "/x/strata.yaml",
      { mirror: "http://127.0.0.2:8080/" },
    );
    assert.deepEqual(
      spec.repositories.map((r) => r.url),
      ["http://127.0.0.2:8080/debian", "http://127.0.0.2:8080/debian-security"],
    );
  });

  it("replaces the repository URL with a --mirror that has a path", () => {
    const spec = parseSpec(`${repo}packages: [python3]\n`, "/x/strata.yaml", {
      mirror: "http://127.0.0.2/debian/",
    });
    assert.equal(spec.repositories[0].url, "http://127.0.0.2/debian");
  });

  it("points at the line and column of malformed YAML", () => {
    assert.match(specError("packages: [python3\narchs: [amd64]\n"), /^\/x\/strata\.yaml:\d+:\d+: /);
    assert.match(specError("packages:\n  - a\n bad: indent\n"), /strata\.yaml:3:\d+/);
  });

  it("names an unknown key with its position and a close suggestion", () => {
    const msg = specError(`${repo}packages: [python3]\npakages: [curl]\n`);
    assert.match(msg, /strata\.yaml:5:1: pakages: unknown key "pakages" \(did you mean "packages"\?\)/);
  });

  it("points at a bad value inside a list", () => {
    const msg = specError(`${repo}packages:\n  - python3\n  - Not_A_Package\n`);
    assert.match(msg, /strata\.yaml:6:5: packages\.1: /);
  });

  it("requires packages", () => {
    assert.match(specError(`${repo}archs: [amd64]\n`), /packages: /);
  });

  it("validates the image part: files need content or source, absolute paths", () => {
    assert.match(
      specError(`${repo}packages: [a1]\nfiles:\n  - path: etc/motd\n    content: hi\n`),
      /files\.0\.path: .*absolute/,
    );
    assert.match(
      specError(`${repo}packages: [a1]\nfiles:\n  - path: /etc/motd\n`),
      /exactly one of content or source/,
    );
    assert.match(specError(`${repo}packages: [a1]\nlayers: { max: 1 }\n`), /layers\.max/);
  });

  it("fills in accounts: root always, a primary group and an image location per user; nonroot by default", () => {
    assert.equal(specAccounts(parseSpec(`${repo}packages: [a1]\n`, "/x/strata.yaml")), DEFAULT_ACCOUNTS);
    const accounts = specAccounts(
      parseSpec(
        `${repo}packages: [a1]\naccounts:\n  users:\n    - { name: app, uid: 1000 }\n`,
        "/x/strata.yaml",
      ),
    );
    assert.deepEqual(
      accounts.users.map((u) => [u.name, u.uid, u.gid, u.home, u.shell]),
      [
        ["root", 0, 0, "/root", "/bin/sh"],
        ["app", 1000, 1000, "/home/app", "/sbin/nologin"],
      ],
    );
    assert.deepEqual(
      accounts.groups.map((g) => [g.name, g.gid]),
      [
        ["root", 0],
        ["app", 1000],
      ],
    );
  });

  it("refuses a YAML alias bomb with one clean line instead of expanding it", () => {
    const bomb = [
      "a: &a [x, x, x, x, x, x, x, x, x]",
      ...["b", "c", "d", "e", "f", "g", "h", "i"].map(
        (k, i) => `${k}: &${k} [${Array(9).fill(`*${"abcdefghi"[i]}`).join(", ")}]`,
      ),
      "packages: [python3]",
    ].join("\n");
    assert.match(specError(`${repo}${bomb}\n`), /strata\.yaml:1:1: cannot expand the YAML/);
  });

  it("refuses an epoch or SOURCE_DATE_EPOCH beyond what a tar header holds", () => {
    assert.match(specError(`${repo}packages: [a1]\nepoch: 1e300\n`), /strata\.yaml:5:8: epoch: /);
    const spec = parseSpec(`${repo}packages: [a1]\nepoch: ${MAX_EPOCH}\n`, "/x/strata.yaml");
    assert.equal(buildEpoch(spec, {}), MAX_EPOCH);
    assert.throws(
      () => buildEpoch(spec, { SOURCE_DATE_EPOCH: "99999999999999999999999" }),
      (err: unknown) =>
        isStrataError(err, "USAGE") && /SOURCE_DATE_EPOCH must be a whole number/.test(err.message),
    );
    assert.equal(buildEpoch(spec, { SOURCE_DATE_EPOCH: "1700000000" }), 1700000000);
  });

  it("reads an unquoted mode: 0644 as the octal it means, not YAML 1.2 decimal 644", () => {
    const files = (modes: string) =>
      parseSpec(`${repo}packages: [a1]\nfiles:\n${modes}`, "/x/strata.yaml").files.map((f) => f.mode);
    assert.deepEqual(
      files(
        '  - { path: /a, content: x, mode: 0644 }\n  - { path: /b, content: x, mode: "0755" }\n  - { path: /c, content: x, mode: 0o600 }\n  - { path: /d, content: x }\n',
      ),
      [0o644, 0o755, 0o600, 0o644],
    );
  });

  it("refuses a mode that is not octal, above 07777, or setuid/setgid without saying so", () => {
    const file = (extra: string) => `${repo}packages: [a1]\nfiles:\n  - { path: /a, content: x, ${extra} }\n`;
    assert.match(specError(file("mode: 0689")), /files\.0\.mode: 689 is not an octal mode; .*"0644"/);
    assert.match(specError(file('mode: "10000"')), /files\.0\.mode: /);
    assert.match(
      specError(file('mode: "4755"')),
      /strata\.yaml:6:\d+: files\.0\.mode: 4755 sets the setuid bit/,
    );
    assert.match(specError(file('mode: "2755"')), /sets the setgid bit/);
    const spec = parseSpec(file('mode: "4755", setuid: true'), "/x/strata.yaml");
    assert.equal(spec.files[0].mode, 0o4755);
  });

  it("requires user: to be an account name or numeric; whether the image has it is the build's to say", () => {
    assert.match(
      specError(`${repo}packages: [a1]\nuser: "no body"\n`),
      /strata\.yaml:5:7: user: "no body" is not an account name/,
    );
    assert.equal(parseSpec(`${repo}packages: [a1]\nuser: postgres\n`, "/x/strata.yaml").user, "postgres");
    assert.equal(
      parseSpec(`${repo}packages: [a1]\nuser: Debian-exim\n`, "/x/strata.yaml").user,
      "Debian-exim",
    );
    assert.equal(parseSpec(`${repo}packages: [a1]\nuser: nonroot\n`, "/x/strata.yaml").user, "nonroot");
    assert.equal(parseSpec(`${repo}packages: [a1]\nuser: "1000:1000"\n`, "/x/strata.yaml").user, "1000:1000");
  });

  it("names a misspelt key even when the key it should have been is then missing", () => {
    assert.match(
      specError(`${repo}pakages: [python3]\n`),
      /strata\.yaml:4:1: pakages: unknown key "pakages" \(did you mean "packages"\?\)/,
    );
  });

  it("says type errors in plain words with their position", () => {
    assert.match(
      specError(`${repo}packages: [a1]\nenv:\n  PORT: 8080\n`),
      /strata\.yaml:6:9: env\.PORT: must be a string; quote it: "8080"/,
    );
    assert.match(
      specError(`${repo}packages: python3\n`),
      /strata\.yaml:4:11: packages: must be an array, not a string/,
    );
  });

  it("says when a requested package is on the default exclude list and how to turn it off", () => {
    assert.throws(
      () => parseSpec(`${repo}packages: [python3, dpkg]\n`, "/x/strata.yaml"),
      (err: unknown) =>
        isStrataError(err, "SPEC_INVALID") &&
        /strata\.yaml:4:\d+: packages\.1: dpkg is on strata's default exclude list/.test(err.message) &&
        /exclude: \[\]/.test(err.hint ?? ""),
    );
    assert.deepEqual(parseSpec(`${repo}packages: [dpkg]\nexclude: []\n`, "/x/strata.yaml").packages, [
      "dpkg",
    ]);
  });

  it("accepts a repository URL with a trailing slash", () => {
    const spec = parseSpec(
      "repositories:\n  - url: http://127.0.0.1:1/debian/\n    suites: [bookworm]\npackages: [a1]\n",
      "/x/strata.yaml",
    );
    assert.equal(spec.repositories[0].url, "http://127.0.0.1:1/debian");
  });

  it("warns that an image without base-files is not recognised by scanners", () => {
    assert.deepEqual(parseSpec(`${repo}packages: [a1]\n`, "/x/strata.yaml").warnings, []);
    const spec = parseSpec(`${repo}packages: [a1]\nexclude: [base-files]\n`, "/x/strata.yaml");
    assert.match(spec.warnings.join("\n"), /base-files is excluded: .*scanners/);
  });
});
