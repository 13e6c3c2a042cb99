import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runStrata } from "../helpers/cli.js";
import { SHARED_CACHE } from "../helpers/examples.js";
import { dpkgInstalled, peerImage } from "../helpers/peer-image.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";
import { cyclonedxErrors, spdxErrors } from "../helpers/sbom-schemas.js";
import { buildAndScan, parseDebPurl, type Scan } from "../helpers/scanner.js";

interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo: string;
  licenseDeclared: string;
  externalRefs?: { referenceType: string; referenceLocator: string }[];
}

async function sbom(...args: string[]): Promise<{ text: string; stderr: string }> {
  const r = await runStrata(["sbom", ...args]);
  assert.equal(r.code, 0, r.stderr);
  return { text: r.stdout, stderr: r.stderr };
}

/**
 * Trivy's purl with its `epoch=` qualifier moved into the version, where the purl specification's
 * `deb` examples keep it (`pkg:deb/debian/attr@1:2.4.47-2?arch=source`): the one documented difference.
 */
function epochInVersion(purl: string): string {
  const m = /^(pkg:deb\/[^@]+@)([^?]+)\?(.*)$/.exec(purl);
  assert.ok(m, `not a deb purl with qualifiers: ${purl}`);
  const qualifiers = m[3].split("&");
  const epoch = qualifiers.find((q) => q.startsWith("epoch="));
  if (epoch === undefined) return purl;
  const rest = qualifiers.filter((q) => q !== epoch);
  return `${m[1]}${epoch.slice("epoch=".length)}:${m[2]}?${rest.join("&")}`;
}

/** name=version of the Debian packages of an SPDX document (the image itself left out). */
function spdxPackages(doc: { packages: SpdxPackage[] }): string[] {
  return doc.packages
    .filter((p) => p.SPDXID !== "SPDXRef-image")
    .map((p) => `${p.name}=${p.versionInfo}`)
    .sort();
}

describe("strata sbom on real images (network: the host's mirror; root: mmdebstrap, umoci; a loopback docker-registry; Trivy from test/tools)", () => {
  let scan: Scan;
  let registry: RegistryServer | undefined;
  const dirs: string[] = [];
  before(async () => {
    scan = await buildAndScan();
    dirs.push(scan.work);
  });
  after(async () => {
    await registry?.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("the python3 example: the SBOM's packages are the lock's and what Trivy lists; both formats valid", async () => {
    const image = `oci:${join(scan.work, "out")}:latest`;
    const spdx = JSON.parse((await sbom(image)).text);
    const cdxText = (await sbom(image, "--format", "cyclonedx")).text;
    assert.equal(spdxErrors(spdx), null);
    assert.equal(await cyclonedxErrors(cdxText), null);
    const locked = scan.locked.map((p) => `${p.name}=${p.version}`).sort();
    const trivy = scan.components
      .filter((c) => c.type === "library")
      .map((c) => parseDebPurl(c.purl!))
      .map((p) => `${p.name}=${p.version}`)
      .sort();
    assert.deepEqual(spdxPackages(spdx), locked);
    assert.deepEqual(spdxPackages(spdx), trivy);
    const cdx = JSON.parse(cdxText);
    const purls = cdx.components
      .filter((c: { type: string }) => c.type === "library")
      .map((c: { purl: string }) => parseDebPurl(c.purl));
    assert.deepEqual(
      purls.map((p: { name: string; arch: string }) => `${p.name}:${p.arch}`).sort(),
      scan.locked.map((p) => `${p.name}:${p.architecture}`).sort(),
    );
    const pointRelease = (await readFile(join(scan.rootfs, "etc/debian_version"), "utf8")).trim();
    assert.match(pointRelease, /^12\.\d+$/);
    assert.deepEqual(
      [...new Set(purls.map((p: { distro: string }) => p.distro))],
      [`debian-${pointRelease}`],
    );
    // zlib's copyright file is machine-readable and names one licence with an SPDX id.
    const zlib = spdx.packages.find((p: SpdxPackage) => p.name === "zlib1g");
    assert.equal(zlib?.licenseDeclared, "Zlib");
  });

  it("every package's purl is the one Trivy writes, in both formats, but for the epoch (kept in the version, as the purl specification writes it)", async () => {
    const image = `oci:${join(scan.work, "out")}:latest`;
    const cdx = JSON.parse((await sbom(image, "--format", "cyclonedx")).text);
    const spdx = JSON.parse((await sbom(image)).text);
    const cdxPurls = cdx.components
      .filter((c: { type: string }) => c.type === "library")
      .map((c: { purl: string }) => c.purl)
      .sort();
    const spdxPurls = (spdx.packages as SpdxPackage[])
      .filter((p) => p.SPDXID !== "SPDXRef-image")
      .map((p) => p.externalRefs!.find((r) => !("comment" in r))!.referenceLocator)
      .sort();
    const trivy = scan.components.filter((c) => c.type === "library").map((c) => c.purl!);
    const withEpoch = trivy.filter((purl) => /[?&]epoch=/.test(purl));
    assert.ok(
      withEpoch.length > 0,
      "the image has packages with an epoch (zlib1g 1:...), so the difference is tested",
    );
    assert.deepEqual(cdxPurls, trivy.map(epochInVersion).sort());
    assert.deepEqual(spdxPurls, cdxPurls);
    assert.ok(
      trivy.some((purl) => purl.includes("%2B")) &&
        cdxPurls.some((purl: string) => purl.includes("%2Bdeb12u")),
      "+ is percent-encoded by both",
    );
    assert.ok(cdxPurls.every((purl: string) => !purl.includes("+") && !purl.includes("upstream=")));
  });

  it("strata build attaches both formats by default, the documents strata sbom computes; --no-sbom attaches none", async () => {
    const image = `oci:${join(scan.work, "out")}:latest`;
    for (const format of ["spdx", "cyclonedx"]) {
      const attached = await sbom(image, "--format", format);
      assert.match(
        attached.stderr,
        new RegExp(`the ${format} SBOM attached to ${image.replace(/[.:/]/g, "\\$&")}`),
      );
      const computed = await sbom(image, "--format", format, "--no-attached");
      assert.equal(attached.text, computed.text, `the attached ${format} document is the computed one`);
    }
    const plain = join(scan.work, "plain");
    const r = await runStrata([
      "--cache-dir",
      SHARED_CACHE,
      "build",
      "-o",
      plain,
      "--no-sbom",
      join(scan.work, "strata.yaml"),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /attached .* SBOM/);
    const index = JSON.parse(await readFile(join(plain, "index.json"), "utf8"));
    const sboms = index.manifests.filter((m: { artifactType?: string }) =>
      /spdx|cyclonedx/.test(m.artifactType ?? ""),
    );
    assert.equal(sboms.length, 0, "no SBOM beside the image");
  });

  it("attached in a real docker-registry 2.8 through the sha256-<hex> tag, and read back by strata sbom docker://", async () => {
    registry = await startRegistry();
    const ref = `${registry.host}/sbom/python3:1`;
    const pushed = await runStrata(["push", `oci:${join(scan.work, "out")}:latest`, ref]);
    assert.equal(pushed.code, 0, pushed.stderr);
    const attached = await sbom(`docker://${ref}`, "--attach");
    assert.match(
      attached.stderr,
      /attached spdx SBOM sha256:[0-9a-f]{64} to linux\/amd64 sha256:[0-9a-f]{64} \(tag-fallback\)/,
    );
    assert.match(attached.stderr, /attached cyclonedx SBOM .*\(tag-fallback\)/);

    const subject = /to linux\/amd64 (sha256:[0-9a-f]{64})/.exec(attached.stderr)![1];
    const res = await fetch(`http://${registry.host}/v2/sbom/python3/manifests/sha256-${subject.slice(7)}`, {
      headers: { accept: "application/vnd.oci.image.index.v1+json" },
    });
    assert.equal(res.status, 200, "the fallback tag holds the referrers index");
    const index = (await res.json()) as { manifests: { artifactType: string }[] };
    // Beside the image's record, which the push attached first.
    assert.deepEqual(index.manifests.map((m) => m.artifactType).sort(), [
      "application/spdx+json",
      "application/vnd.cyclonedx+json",
      "application/vnd.dev.strata.record.v1",
    ]);

    for (const format of ["spdx", "cyclonedx"]) {
      const back = await sbom(`docker://${ref}`, "--format", format);
      assert.match(back.stderr, new RegExp(`the ${format} SBOM attached to`));
      const local = await sbom(`oci:${join(scan.work, "out")}:latest`, "--format", format, "--no-attached");
      assert.equal(back.text, local.text, "the same image gives the same bytes in every image location");
    }
  });

  it("an mmdebstrap + umoci image (essential): the SBOM lists what its /var/lib/dpkg/status does", async () => {
    const root = join(scan.work, "peer-root");
    const layout = join(scan.work, "peer");
    await peerImage(root, layout);
    const installed = (await dpkgInstalled(root)).map((line) => line.split(" ").slice(0, 2).join("="));
    const spdx = JSON.parse((await sbom(`oci:${layout}:latest`)).text);
    assert.equal(spdxErrors(spdx), null);
    assert.deepEqual(spdxPackages(spdx), [...new Set(installed)].sort());
    const dependsOn = spdx.relationships.filter(
      (r: { relationshipType: string }) => r.relationshipType === "DEPENDS_ON",
    );
    assert.ok(dependsOn.length > installed.length, `${dependsOn.length} dependency relationships`);
    assert.match(await readFile(join(root, "usr/lib/os-release"), "utf8"), /^VERSION_ID="12"$/m);
    assert.ok(
      spdx.packages.some((p: SpdxPackage) =>
        p.externalRefs?.some((r) => r.referenceLocator.includes("distro=debian-12")),
      ),
    );
  });
});
