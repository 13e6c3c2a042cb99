import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runStrata } from "../helpers/cli.js";
import { realDeb, run, tempDir } from "../helpers/debs.js";
import { buildExample, exampleCopy } from "../helpers/examples.js";
import { cyclonedxErrors, spdxErrors } from "../helpers/sbom-schemas.js";

/**
 * Licences of a real image's packages: the git example (git, perl, perl-base and 60-odd more). perl's
 * copyright file has 223 `License:` lines, and many Debian names have no SPDX id.
 */

const DEP5 = /^Format: https?:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/?\s*$/m;

interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo: string;
  licenseDeclared: string;
}
interface Extracted {
  licenseId: string;
  name: string;
  comment: string;
}
interface CdxComponent {
  type: string;
  name: string;
  version: string;
  licenses?: { license?: { id?: string; name?: string }; expression?: string }[];
}

async function sbom(image: string, format: string): Promise<string> {
  const r = await runStrata(["sbom", image, "--format", format]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** A .deb's copyright file, read with dpkg-deb and tar: an independent reading. */
async function debCopyright(path: string, name: string): Promise<string> {
  const { stdout } = await run(
    "sh",
    ["-c", 'dpkg-deb --fsys-tarfile "$1" | tar -xO "./usr/share/doc/$2/copyright"', "sh", path, name],
    { maxBuffer: 1 << 24 },
  );
  return stdout;
}

/**
 * The licence names a DEP-5 file declares, read the simple way: the `License:` line of the header and
 * of each `Files` paragraph (a standalone License paragraph only spells one out), split on its operators.
 */
function licenceNames(copyright: string): Set<string> {
  const paragraphs = copyright.split(/\n[ \t]*\n/);
  const lines = paragraphs
    .filter((p, i) => i === 0 || /^Files:/m.test(p))
    .flatMap((p) => p.match(/^License:.*$/m) ?? []);
  return new Set(
    lines.flatMap((l) =>
      l
        .slice("License:".length)
        .split(/, ?and | or | and /i)
        .map((t) => t.trim().replace(/\s+/g, " "))
        .filter(Boolean),
    ),
  );
}

describe("licences in the SBOMs of the git example (network: the host's mirror; root: umoci)", () => {
  let work: string;
  let image: string;
  let spdx: { packages: SpdxPackage[]; hasExtractedLicensingInfos?: Extracted[] };
  let cdx: { components: CdxComponent[] };
  before(async () => {
    work = await exampleCopy("git");
    const { out } = await buildExample(work);
    image = `oci:${out}:latest`;
    spdx = JSON.parse(await sbom(image, "spdx"));
    const cdxText = await sbom(image, "cyclonedx");
    assert.equal(await cyclonedxErrors(cdxText), null);
    cdx = JSON.parse(cdxText);
  });
  after(() => rm(work, { recursive: true, force: true }));

  it("the SPDX document is valid, every declared expression parses, and every LicenseRef it uses is extracted", () => {
    assert.equal(spdxErrors(spdx), null);
    assert.ok((spdx.hasExtractedLicensingInfos ?? []).length > 0, "git's image has licences with no SPDX id");
  });

  for (const name of ["perl-base", "perl", "git"]) {
    it(`${name}: each licence its real copyright file names is in the SBOMs, by SPDX id or by name, once`, async () => {
      const deb = await realDeb(name);
      const pkg = spdx.packages.find((p) => p.name === name);
      assert.ok(pkg, `${name} is in the image`);
      assert.equal(
        pkg.versionInfo,
        deb.locked.version,
        "the host's candidate is the version the image holds",
      );
      const copyright = await debCopyright(deb.path, name);
      assert.match(copyright, DEP5);
      const names = licenceNames(copyright);
      assert.notEqual(pkg.licenseDeclared, "NOASSERTION", `${name}'s licence is declared`);

      const component = cdx.components.find((c) => c.type === "library" && c.name === name)!;
      const listed = (component.licenses ?? []).map((l) => l.license?.id ?? l.license?.name ?? l.expression);
      const byName = (component.licenses ?? []).flatMap((l) => (l.license?.name ? [l.license.name] : []));
      assert.equal(listed.length, names.size, `${name}: ${listed.join(", ")}`);
      for (const n of byName) assert.ok(names.has(n), `CycloneDX names ${n}, which the file does not`);

      const extracted = (spdx.hasExtractedLicensingInfos ?? []).filter((e) =>
        e.comment.split(": ").at(-1)!.split(", ").includes(name),
      );
      for (const e of extracted) {
        assert.ok(names.has(e.name), `SPDX extracts ${e.name}, which the file does not name`);
        assert.ok(byName.includes(e.name), `${e.name} has no SPDX id, so CycloneDX names it`);
        assert.ok(pkg.licenseDeclared.includes(e.licenseId), `${name}'s expression uses ${e.licenseId}`);
      }
      for (const ref of pkg.licenseDeclared.match(/LicenseRef-[A-Za-z0-9.-]+/g) ?? [])
        assert.ok(
          extracted.some((e) => e.licenseId === ref),
          `${ref} is extracted with ${name} among its packages`,
        );
    });
  }

  it("perl declares GPL-1+ or Artistic and its unmapped licences, however many times its 223 License lines repeat them", () => {
    const perl = spdx.packages.find((p) => p.name === "perl")!;
    assert.match(perl.licenseDeclared, /\(GPL-1\.0-or-later OR Artistic-1\.0\)/);
    assert.match(perl.licenseDeclared, /LicenseRef-REGCOMP/);
    assert.equal(perl.licenseDeclared.split("(GPL-1.0-or-later OR Artistic-1.0)").length, 2, "said once");
  });

  it("NOASSERTION only for a package whose copyright file is not machine-readable (read from the unpacked image)", async () => {
    const bundle = join(await tempDir("licences-bundle"), "bundle");
    try {
      await run("umoci", ["unpack", "--image", image.slice("oci:".length), bundle]);
      const rootfs = join(bundle, "rootfs");
      const machineReadable = async (name: string) =>
        DEP5.test(await readFile(join(rootfs, "usr/share/doc", name, "copyright"), "utf8").catch(() => ""));
      const packages = spdx.packages.filter((p) => p.SPDXID !== "SPDXRef-image");
      const wrong: string[] = [];
      for (const p of packages)
        if ((p.licenseDeclared === "NOASSERTION") === (await machineReadable(p.name)))
          wrong.push(`${p.name}: ${p.licenseDeclared}`);
      assert.deepEqual(wrong, []);
      assert.ok(
        packages.some((p) => p.licenseDeclared === "NOASSERTION"),
        "some file is not machine-readable",
      );
    } finally {
      await rm(join(bundle, ".."), { recursive: true, force: true });
    }
  });
});
