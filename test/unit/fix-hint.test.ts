import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fixCommand, withFixes } from "../../src/scan/fix-hint.js";
import { testFinding } from "../helpers/findings.js";

const FIXABLE = testFinding({ id: "CVE-2025-9230" });
const IMAGE = { location: "docker://reg.example/app:1", builtByStrata: true };

describe("fix hints name the command that installs the fix", { timeout: 10_000 }, () => {
  test("an image locked from the suite that offers the fix: strata update alone", () => {
    const ctx = { ...IMAGE, lockedSuites: ["bookworm", "bookworm-security"] };
    assert.equal(fixCommand(FIXABLE, ctx), "strata update docker://reg.example/app:1 --package libssl3");
  });

  test("a suite the image was not locked from: the --spec that brings it, the scan's own when it had one", () => {
    const ctx = { ...IMAGE, lockedSuites: ["bookworm"] };
    assert.equal(
      fixCommand(FIXABLE, ctx),
      "strata update docker://reg.example/app:1 --package libssl3 --spec SPEC (a spec whose repositories include bookworm-security)",
    );
    assert.equal(
      fixCommand(FIXABLE, { ...ctx, spec: "with-security.yaml" }),
      "strata update docker://reg.example/app:1 --package libssl3 --spec with-security.yaml",
    );
  });

  test("an image strata did not build is rebuilt; a fix nobody offers yet, or no fix, has no command", () => {
    assert.equal(
      fixCommand(FIXABLE, { ...IMAGE, builtByStrata: false }),
      "rebuild the image with libssl3 3.0.17-1~deb12u3 or newer",
    );
    assert.equal(fixCommand({ ...FIXABLE, updatable: false }, IMAGE), undefined);
    assert.equal(fixCommand({ ...FIXABLE, status: "open", fixedVersion: undefined }, IMAGE), undefined);
    const [kept, fixed] = withFixes([{ ...FIXABLE, updatable: false }, FIXABLE], IMAGE);
    assert.equal(kept.fix, undefined);
    assert.match(
      fixed.fix ?? "",
      /^strata update docker:\/\/reg\.example\/app:1 --package libssl3 --spec SPEC/,
    );
  });
});
