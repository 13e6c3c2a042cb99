import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { buildAndScan, parseDebPurl, type Scan } from "../helpers/scanner.js";

describe("a scanner (Trivy via cdxgen) reads strata's python3 image (network: host's mirror; needs test/tools: npm ci --prefix test/tools; runs umoci)", () => {
  let scanned: Promise<Scan> | undefined;
  /** Builds and scans once; every test awaits it, so a missing scanner fails each test with the hint. */
  const scan = (): Promise<Scan> => {
    scanned ??= buildAndScan();
    return scanned;
  };
  after(async () => {
    const work = await scanned?.then((s) => s.work).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("lists every locked package by name and version, and nothing else", async () => {
    const { locked, components } = await scan();
    assert.ok(locked.length > 30, `the python3 lock has only ${locked.length} packages`);
    const libraries = components.filter((c) => c.type === "library");
    const withoutDebPurl = libraries.filter((c) => !c.purl?.startsWith("pkg:deb/debian/")).map((c) => c.name);
    assert.deepEqual(withoutDebPurl, [], "packages Trivy found but could not name as Debian packages");
    const seen = new Set(libraries.map((c) => parseDebPurl(c.purl!)).map((p) => `${p.name}=${p.version}`));
    const wanted = new Set(locked.map((p) => `${p.name}=${p.version}`));
    assert.deepEqual(
      {
        missedByScanner: [...wanted].filter((x) => !seen.has(x)).sort(),
        notLocked: [...seen].filter((x) => !wanted.has(x)).sort(),
      },
      { missedByScanner: [], notLocked: [] },
    );
    assert.equal(libraries.length, locked.length, "a package was listed twice");
  });

  it("gives each package the architecture of its .deb (amd64 or all)", async () => {
    const { locked, components } = await scan();
    const archs = components
      .filter((c) => c.purl?.startsWith("pkg:deb/debian/"))
      .map((c) => parseDebPurl(c.purl!))
      .map((p) => `${p.name}:${p.arch}`)
      .sort();
    assert.deepEqual(archs, locked.map((p) => `${p.name}:${p.architecture}`).sort());
    assert.ok(archs.some((a) => a.endsWith(":all")) && archs.some((a) => a.endsWith(":amd64")));
  });

  it("detects the OS as Debian at the version base-files ships, and tags every package with it", async () => {
    const { rootfs, components } = await scan();
    const versionFile = join(rootfs, "etc/debian_version");
    assert.ok(existsSync(versionFile), "the image has no /etc/debian_version (base-files ships it)");
    const debianVersion = (await readFile(versionFile, "utf8")).trim();
    assert.match(debianVersion, /^\d+(\.\d+)*$/);
    const os = components.filter((c) => c.type === "operating-system");
    assert.deepEqual(
      os.map((c) => ({ name: c.name, version: c.version })),
      [{ name: "debian", version: debianVersion }],
    );
    const distros = new Set(
      components.filter((c) => c.purl?.startsWith("pkg:deb/")).map((c) => parseDebPurl(c.purl!).distro),
    );
    assert.deepEqual([...distros], [`debian-${debianVersion}`]);
  });
});
