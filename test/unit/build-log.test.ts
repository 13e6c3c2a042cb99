import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { foldDocLinkNotes } from "../../src/effects/doc-links.js";
import {
  gapsText,
  scriptGaps,
  scriptSummaryLine,
  summarizeScripts,
} from "../../src/effects/script-summary.js";

/** What a build prints about maintainer scripts: noise folded, one summary line per package. */

describe("the build log", { timeout: 10_000 }, () => {
  test("alternatives with no link to a man page fold into one counted line; other notes stay as they are", () => {
    const notes = [
      "mawk: alternative awk.1.gz: no link, /usr/share/man/man1/mawk.1.gz is not in the image",
      "postgresql-common: group postgres (101)",
      "mawk: alternative nawk.1.gz: no link, /usr/share/man/man1/mawk.1.gz is not in the image",
      "tool: alternative helper: no link, /usr/lib/tool/helper is not in the image",
    ];
    assert.deepEqual(foldDocLinkNotes(notes), [
      "postgresql-common: group postgres (101)",
      "tool: alternative helper: no link, /usr/lib/tool/helper is not in the image",
      "2 alternative links to documentation not made (not in the image): mawk awk.1.gz, mawk nawk.1.gz",
    ]);
    assert.deepEqual(foldDocLinkNotes(notes.slice(1, 2)), notes.slice(1, 2));
  });

  test("each package's scripts in one line: made, skipped, the two commonest reasons and how many more", () => {
    const skip = (pkg: string, reason: string, command = "x") => ({
      package: pkg,
      script: "postinst",
      command,
      reason,
    });
    const summaries = summarizeScripts({ locales: 1, mawk: 5, quiet: 0 }, [
      skip("locales", "not a command strata follows", "sed"),
      skip("locales", "not a command strata follows", "sort"),
      skip("locales", "not a command strata follows", "tr"),
      skip("locales", "an image has no dpkg database to query"),
      skip("locales", "services are not started in images"),
      skip("locales", "the dynamic linker's cache is not built"),
      skip("base-files", "/var/run is shipped by a package and stays as packaged"),
    ]);
    assert.deepEqual(summaries.map(scriptSummaryLine), [
      "base-files: made 0, skipped 1 (1 /var/run is shipped by a package and stays as packaged)",
      "locales: made 1, skipped 6 (3 not a command strata follows; 1 an image has no dpkg database to query; 2 more)",
      "mawk: made 5, skipped 0",
    ]);
  });

  test("gaps are the skips not made on purpose, counted per package, most first", () => {
    const skip = (pkg: string, reason: string) => ({
      package: pkg,
      script: "postinst",
      command: "x",
      reason,
    });
    const gaps = scriptGaps([
      skip("a", "services are not started in images"),
      skip("a", "an image has no dpkg database to query"),
      skip("a", "not a command strata follows"),
      skip("b", "the contents of /x were not recorded when its layer was built"),
      skip("b", "not a command strata follows"),
    ]);
    assert.deepEqual(
      gaps.map((g) => g.package),
      ["a", "b", "b"],
    );
    assert.equal(gapsText(gaps), "3 script effects not made (b 2, a 1)");
  });
});
