import assert from "node:assert/strict";
import { test } from "node:test";
import { parseDeb822Sources, parseOneLineSources, relocateUrl } from "../../src/debian/sources.js";

test("apt's Check-Valid-Until: no in the host's sources turns the check off for that repository", () => {
  const [snapshot, plain] = parseDeb822Sources(
    [
      "Types: deb\nURIs: http://snapshot.invalid/archive/debian/20250101T000000Z\nSuites: bookworm\nComponents: main\nCheck-Valid-Until: no\n",
      "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm\nComponents: main\n",
    ].join("\n"),
  );
  assert.equal(snapshot.checkValidUntil, false);
  assert.equal(plain.checkValidUntil, undefined);
  const [line] = parseOneLineSources(
    "deb [check-valid-until=no signed-by=/k.gpg] http://snapshot.invalid/debian bookworm main\n",
  );
  assert.equal(line.checkValidUntil, false);
  assert.equal(line.keyring, "/k.gpg");
});

test("--mirror as scheme://host keeps each repository's path; with a path it replaces the URL", () => {
  assert.equal(
    relocateUrl("http://a.invalid/debian-security", "http://b.invalid:8080/"),
    "http://b.invalid:8080/debian-security",
  );
  assert.equal(
    relocateUrl("http://a.invalid/debian", "http://b.invalid/mirror/debian/"),
    "http://b.invalid/mirror/debian",
  );
  assert.equal(relocateUrl("http://a.invalid/debian", undefined), "http://a.invalid/debian");
});
