import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { buildExample, exampleCopy } from "../helpers/examples.js";

describe("build reports (network: host's mirror)", () => {
  it("piped progress counts downloads and layers as separate steps, and names the packages of a group layer", async () => {
    const cache = await mkdtemp(join(tmpdir(), "strata-reports-cache-"));
    try {
      const python = await exampleCopy(
        "python3",
        (s) => `${s.replace(/^archs: .*$/m, "archs: [amd64]")}\nlayers: { max: 8 }\n`,
      );
      const { stderr, summary } = await buildExample(python);
      const lines = stderr.split("\n");
      assert.ok(!lines.some((l) => l.startsWith("build [")), "no step is called build any more");
      const layerLines = lines.filter((l) => l.startsWith("layer ["));
      assert.equal(layerLines.length, summary.images[0].layers.length, stderr);
      assert.match(layerLines.at(-1)!, /^layer \[(\d+)\/\1\] /);
      const group = summary.images[0].layers.find((l: { kind: string }) => l.kind === "group");
      const names = group.packages.map((p: string) => p.split("=")[0]);
      assert.ok(
        lines.includes(
          `amd64: over the layer budget (layers.max 8), ${group.packages.length} packages share one layer: ${group.packages.join(" ")}`,
        ),
        stderr,
      );
      assert.ok(names.length > 1);

      const cold = await buildExample(await exampleCopy("busybox"), [], cache); // a cold cache: .debs are downloaded
      const downloads = cold.stderr.split("\n").filter((l) => l.startsWith("download ["));
      // One line per .deb (busybox-static and base-files with its closure), counted as one step.
      const debs = downloads.length;
      assert.ok(debs > 1, cold.stderr);
      assert.ok(
        downloads.some((l) => /^download \[\d+\/\d+\] amd64 busybox-static /.test(l)),
        cold.stderr,
      );
      assert.match(downloads.at(-1)!, new RegExp(`^download \\[${debs}/${debs}\\] `));
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });

  it("folds man-page alternatives into one line and ends with one line per package's scripts; --json keeps every command", async () => {
    const dir = await exampleCopy("python3", (s) =>
      s
        .replace(/^archs: .*$/m, "archs: [amd64]")
        .replace(/^packages:[\s\S]*?(?=^\S)/m, "packages: [mawk, postgresql-common, python3]\n"),
    );
    const { stderr, summary } = await buildExample(dir);
    const lines = stderr.split("\n").filter((l) => !/^(download|layer) \[/.test(l));
    assert.ok(!lines.some((l) => / skipped '|would have failed/.test(l)), stderr);
    assert.ok(!lines.some((l) => /alternative (awk|nawk)\.1\.gz: no link/.test(l)), stderr);
    assert.ok(
      lines.includes(
        "amd64: 2 alternative links to documentation not made (not in the image): mawk awk.1.gz, mawk nawk.1.gz",
      ),
      stderr,
    );
    assert.ok(
      lines.some((l) => /^amd64: postgresql-common: user postgres \(/.test(l)),
      "accounts made are news: kept",
    );
    const header = lines.findIndex((l) => /^maintainer scripts of \d+ packages followed, not run/.test(l));
    assert.ok(
      header > lines.findIndex((l) => /^amd64: sha256:/.test(l)),
      "the summary comes after the image",
    );
    const perPackage = lines.slice(header + 1).filter((l) => l.startsWith("  "));
    assert.ok(
      perPackage.some((l) => /^ {2}mawk: made [1-9]\d*, skipped 0$/.test(l)),
      stderr,
    );
    // python3's postinst works under dpkg; it used to be cut short here (a tree emptied by `> /`).
    assert.ok(
      perPackage.some((l) => /^ {2}python3: made [1-9]/.test(l)),
      stderr,
    );
    assert.ok(summary.scriptsMade.python3 >= 2, "/etc/python3 and its debian_config, as dpkg makes them");
    assert.ok(
      !summary.skippedEffects.some(
        (e: { package: string; command: string }) =>
          e.package === "python3" && e.command === "(the rest of the script)",
      ),
      JSON.stringify(summary.skippedEffects),
    );
    assert.ok(summary.skippedEffects.length >= perPackage.length, "--json lists every skipped command");
  });
});
