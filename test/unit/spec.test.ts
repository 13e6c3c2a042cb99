import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_ACCOUNTS, specAccounts } from "../../src/build/accounts.js";
import { DEFAULT_EXCLUDES, parseSpec } from "../../src/build/spec.js";
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

  it("fills in accounts: root always, a primary group and a home per user; nonroot by default", () => {
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
});
