import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Image, imageDescriptor } from "../../src/oci/image.js";
import { readLayout, writeLayout } from "../../src/oci/layout.js";
import { readLocation, writeLocation } from "../../src/oci/locations/locations.js";
import { type ImageLocation, parseLocationName } from "../../src/oci/locations/name.js";
import { attachToLayout, referrerOf } from "../../src/oci/referrers.js";
import { type Descriptor, MediaType } from "../../src/oci/types.js";
import { attachedSbom, attachSboms } from "../../src/sbom/attach.js";
import { attachedSbomDisagreement } from "../../src/sbom/attached-check.js";
import { computeSboms } from "../../src/sbom/sbom.js";
import { isStrataError } from "../../src/util/errors.js";
import { runStrata, STRATA_BIN } from "../helpers/cli.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";
import { LICENCES, PACKAGES, strataLikeImage } from "../helpers/sbom-image.js";
import { cyclonedxErrors, spdxErrors } from "../helpers/sbom-schemas.js";
import { syntheticIndex } from "../helpers/synthetic-image.js";

async function indexJson(dir: string): Promise<{ manifests: { digest: string; artifactType?: string }[] }> {
  return JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
}

describe("SBOMs attached in an OCI layout", () => {
  let work: string;
  let image: Image;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "strata-sbom-attach-"));
    image = await strataLikeImage(PACKAGES, LICENCES);
  });
  after(() => rm(work, { recursive: true, force: true }));

  async function layoutWithImage(name: string): Promise<ImageLocation> {
    const dir = join(work, name);
    await writeLayout(dir, { kind: "image", image }, { tag: "latest" });
    return { transport: "oci", path: dir };
  }

  test("both formats become artifacts whose subject is the image manifest, and read back byte for byte", async () => {
    const location = await layoutWithImage("both");
    const reports = await attachSboms(location, { kind: "image", image });
    assert.deepEqual(
      reports.map((r) => [r.format, r.via, r.subject]),
      [
        ["spdx", "layout", imageDescriptor(image).digest],
        ["cyclonedx", "layout", imageDescriptor(image).digest],
      ],
    );
    const index = await indexJson((location as { path: string }).path);
    assert.deepEqual(
      index.manifests.map((d) => d.artifactType),
      [undefined, "application/spdx+json", "application/vnd.cyclonedx+json"],
    );
    const computed = await computeSboms(image, ["spdx", "cyclonedx"], "test");
    const spdx = await attachedSbom(location, image, "spdx");
    const cdx = await attachedSbom(location, image, "cyclonedx");
    assert.ok(spdx && cdx);
    assert.ok(spdx.bytes.equals(computed.get("spdx")!));
    assert.ok(cdx.bytes.equals(computed.get("cyclonedx")!));
    assert.equal(spdxErrors(JSON.parse(spdx.bytes.toString())), null);
    assert.equal(await cyclonedxErrors(cdx.bytes.toString()), null);
  });

  test("the layout still opens without a tag, and attaching again replaces rather than adds", async () => {
    const location = await layoutWithImage("again");
    await attachSboms(location, { kind: "image", image });
    await attachSboms(location, { kind: "image", image });
    const dir = (location as { path: string }).path;
    assert.equal((await indexJson(dir)).manifests.length, 3);
    const artifact = await readLayout(dir);
    assert.equal(artifact.kind, "image");
  });

  test("an artifact manifest named as the image is refused in one line", async () => {
    const location = await layoutWithImage("artifact");
    const [report] = await attachSboms(location, { kind: "image", image }, { formats: ["spdx"] });
    await assert.rejects(
      readLocation({ ...location, tag: report.digest } as ImageLocation),
      (err) =>
        isStrataError(err, "IO") &&
        /not an image but an artifact of type application\/spdx\+json/.test(err.message),
    );
  });

  test("an attached SBOM whose bytes were altered is refused", async () => {
    const location = await layoutWithImage("tampered");
    const [report] = await attachSboms(location, { kind: "image", image }, { formats: ["spdx"] });
    const dir = (location as { path: string }).path;
    const manifest = JSON.parse(await readFile(join(dir, "blobs/sha256", report.digest.slice(7)), "utf8"));
    const { writeFile } = await import("node:fs/promises");
    await writeFile(join(dir, "blobs/sha256", manifest.layers[0].digest.slice(7)), "{}");
    await assert.rejects(attachedSbom(location, image, "spdx"), (err) => isStrataError(err));
  });

  test("each platform image of an index gets its own SBOMs, and the CLI asks which one", async () => {
    const arm = await strataLikeImage(PACKAGES, LICENCES, true, {
      architecture: "arm64",
      os: "linux",
      variant: "v8",
    });
    const index = syntheticIndex([image, arm]);
    const dir = join(work, "index");
    await writeLayout(dir, index, { tag: "latest" });
    const location: ImageLocation = { transport: "oci", path: dir };
    const reports = await attachSboms(location, index, { formats: ["cyclonedx"] });
    assert.deepEqual(
      reports.map((r) => [r.platform, r.subject]),
      [
        ["linux/amd64", imageDescriptor(image).digest],
        ["linux/arm64/v8", imageDescriptor(arm).digest],
      ],
    );
    const back = JSON.parse((await attachedSbom(location, arm, "cyclonedx"))!.bytes.toString());
    assert.equal(back.metadata.component.version, imageDescriptor(arm).digest);
    assert.deepEqual(back.metadata.component.properties, [
      { name: "dev.strata:platform", value: "linux/arm64/v8" },
    ]);
    const noPlatform = await runStrata(["sbom", `oci:${dir}`]);
    assert.equal(noPlatform.code, 2, noPlatform.stderr);
    const picked = await runStrata(["sbom", `oci:${dir}`, "--platform", "arm64", "--format", "cyclonedx"]);
    assert.equal(picked.code, 0, picked.stderr);
    assert.equal(picked.stdout, (await attachedSbom(location, arm, "cyclonedx"))!.bytes.toString());
  });

  test("archives have no place for referrers: a usage error", async () => {
    await assert.rejects(
      attachSboms({ transport: "oci-archive", path: join(work, "x.tar") }, { kind: "image", image }),
      (err) => isStrataError(err, "USAGE") && /only in an OCI layout or a registry/.test(err.message),
    );
  });
});

describe("strata sbom (the built CLI)", () => {
  let work: string;
  let dir: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "strata-sbom-cli-"));
    dir = join(work, "layout");
    await writeLayout(
      dir,
      { kind: "image", image: await strataLikeImage(PACKAGES, LICENCES) },
      { tag: "latest" },
    );
  });
  after(() => rm(work, { recursive: true, force: true }));

  test("computes SPDX by default and CycloneDX on request, the same bytes each time", async () => {
    const a = await runStrata(["sbom", `oci:${dir}`]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(JSON.parse(a.stdout).spdxVersion, "SPDX-2.3");
    const b = await runStrata(["sbom", dir, "--format", "cyclonedx", "-o", join(work, "bom.json")]);
    assert.equal(b.code, 0, b.stderr);
    assert.equal(JSON.parse(await readFile(join(work, "bom.json"), "utf8")).specVersion, "1.6");
    assert.equal((await runStrata(["sbom", `oci:${dir}`])).stdout, a.stdout);
  });

  test("--attach attaches both; afterwards the attached SBOM is what is returned", async () => {
    const attach = await runStrata(["sbom", `oci:${dir}`, "--attach", "-o", join(work, "a.json")]);
    assert.equal(attach.code, 0, attach.stderr);
    assert.match(attach.stderr, /attached spdx SBOM sha256:[0-9a-f]{64} to linux\/amd64/);
    assert.match(attach.stderr, /attached cyclonedx SBOM/);
    const read = await runStrata(["sbom", `oci:${dir}:latest`]);
    assert.equal(read.code, 0, read.stderr);
    assert.match(read.stderr, /the spdx SBOM attached to/);
    assert.equal(read.stdout, await readFile(join(work, "a.json"), "utf8"));
  });

  test("an attached SBOM that hides a package is not returned: one line says so, and the document is computed", async () => {
    const forgedDir = join(work, "forged");
    const forgedImage = await strataLikeImage(PACKAGES, LICENCES);
    await writeLayout(forgedDir, { kind: "image", image: forgedImage }, { tag: "latest" });
    const honest = (await computeSboms(forgedImage, ["spdx"], "test")).get("spdx")!;
    const doc = JSON.parse(honest.toString());
    const hidden = doc.packages.find((p: { name: string }) => p.name === PACKAGES[0].name);
    doc.packages = doc.packages.filter((p: unknown) => p !== hidden);
    const bytes = Buffer.from(JSON.stringify(doc));
    const subject = imageDescriptor(forgedImage);
    await attachToLayout(
      forgedDir,
      referrerOf(subject, "application/spdx+json", { bytes, title: "sbom.spdx.json" }, {}),
    );
    const why = await attachedSbomDisagreement(forgedImage, bytes, "spdx", "test");
    assert.match(
      why ?? "",
      new RegExp(`leaves out 1 package\\(s\\) the image holds \\(${PACKAGES[0].name} `),
    );
    assert.equal(await attachedSbomDisagreement(forgedImage, honest, "spdx", "test"), undefined);
    const read = await runStrata(["sbom", `oci:${forgedDir}`]);
    assert.equal(read.code, 0, read.stderr);
    assert.match(
      read.stderr,
      /^warning: the spdx SBOM attached to .* leaves out 1 package\(s\).*: not used; computed from the image instead$/m,
    );
    assert.equal(read.stdout, honest.toString());
  });

  test("--attach without -o reports what it attached and prints no document", async () => {
    const copy = join(work, "attach-only");
    await writeLayout(
      copy,
      { kind: "image", image: await strataLikeImage(PACKAGES, LICENCES) },
      { tag: "latest" },
    );
    const attach = await runStrata(["sbom", `oci:${copy}`, "--attach"]);
    assert.equal(attach.code, 0, attach.stderr);
    assert.equal(attach.stdout, "");
    assert.deepEqual(
      attach.stderr
        .trim()
        .split("\n")
        .map((l) => l.replace(/sha256:[0-9a-f]{64}/g, "D")),
      [
        "attached spdx SBOM D to linux/amd64 D (layout)",
        "attached cyclonedx SBOM D to linux/amd64 D (layout)",
      ],
    );
  });

  test("a document far larger than a pipe's buffer reaches a slow reader whole", async () => {
    const many = Array.from({ length: 400 }, (_, i) => ({ name: `lib${i}`, version: `1.${i}-1` }));
    const big = join(work, "big");
    await writeLayout(big, { kind: "image", image: await strataLikeImage(many, {}) }, { tag: "latest" });
    assert.equal((await runStrata(["sbom", big, "-o", join(work, "big.json")])).code, 0);
    const expected = await readFile(join(work, "big.json"));
    assert.ok(expected.length > 256 << 10, `only ${expected.length} bytes`);
    const child = spawn(process.execPath, [STRATA_BIN, "sbom", big], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    child.stdout.pause();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const chunks: Buffer[] = [];
    for await (const chunk of child.stdout) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).length, expected.length);
  });

  test("an unknown format and an image with no packages: one line each, exit 1 or 2", async () => {
    const bad = await runStrata(["sbom", dir, "--format", "swid"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /argument 'swid' is invalid/);
    const emptyDir = join(work, "empty");
    const { syntheticImage } = await import("../helpers/synthetic-image.js");
    const { layerOf } = await import("../helpers/layer-tar.js");
    const empty = syntheticImage([await layerOf([{ path: "etc/hostname", body: "x\n" }])]);
    await writeLayout(emptyDir, { kind: "image", image: empty }, { tag: "latest" });
    const none = await runStrata(["sbom", `oci:${emptyDir}`]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^strata: error: .*holds no Debian packages\n/);
    assert.doesNotMatch(none.stderr, /\n\s+at /, "no stack trace");
  });
});

describe("SBOMs attached in a real docker-registry 2.8 (loopback; no referrers API)", () => {
  let registry: RegistryServer;
  before(async () => {
    registry = await startRegistry();
  });
  after(() => registry.close());

  async function pushed(image: Image, repo: string): Promise<ImageLocation> {
    const location = parseLocationName(`docker://${registry.host}/${repo}:1`)!;
    await writeLocation(location, { kind: "image", image }, { refName: "latest", archiveName: "x:1" });
    return location;
  }

  async function fallbackIndex(repo: string, subject: string): Promise<{ manifests: Descriptor[] }> {
    const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/sha256-${subject.slice(7)}`, {
      headers: { accept: MediaType.ociIndex },
    });
    assert.equal(res.status, 200);
    return (await res.json()) as { manifests: Descriptor[] };
  }

  test("the tag fallback index lists both; attaching again replaces strata's own and keeps others'", async () => {
    const image = await strataLikeImage(PACKAGES, LICENCES);
    const location = await pushed(image, "team/app");
    const subject = imageDescriptor(image).digest;
    const first = await attachSboms(location, { kind: "image", image });
    assert.deepEqual(
      first.map((r) => r.via),
      ["tag-fallback", "tag-fallback"],
    );
    // Another tool's referrer in the same index must survive strata's next attach.
    const index = await fallbackIndex("team/app", subject);
    const foreign: Descriptor = {
      ...index.manifests[0],
      artifactType: "application/example",
      annotations: {},
    };
    const put = await fetch(`http://${registry.host}/v2/team/app/manifests/sha256-${subject.slice(7)}`, {
      method: "PUT",
      headers: { "content-type": MediaType.ociIndex },
      body: JSON.stringify({ ...index, manifests: [...index.manifests, foreign] }),
    });
    assert.equal(put.status, 201);
    await attachSboms(location, { kind: "image", image });
    const again = await fallbackIndex("team/app", subject);
    assert.deepEqual(again.manifests.map((d) => d.artifactType).sort(), [
      "application/example",
      "application/spdx+json",
      "application/vnd.cyclonedx+json",
    ]);
    const back = await attachedSbom(location, image, "cyclonedx");
    assert.ok(back?.bytes.equals((await computeSboms(image, ["cyclonedx"], "t")).get("cyclonedx")!));
  });

  test("a fallback index that names another image's SBOM is refused, not believed", async () => {
    const a = await strataLikeImage(PACKAGES, LICENCES);
    const b = await strataLikeImage(PACKAGES.slice(0, 3), {});
    const homeA = await pushed(a, "team/a");
    await pushed(b, "team/a");
    const [sbomB] = await attachSboms(homeA, { kind: "image", image: b }, { formats: ["spdx"] });
    const indexB = await fallbackIndex("team/a", sbomB.subject);
    const subjectA = imageDescriptor(a).digest;
    const put = await fetch(`http://${registry.host}/v2/team/a/manifests/sha256-${subjectA.slice(7)}`, {
      method: "PUT",
      headers: { "content-type": MediaType.ociIndex },
      body: JSON.stringify(indexB),
    });
    assert.equal(put.status, 201);
    await assert.rejects(
      attachedSbom(homeA, a, "spdx"),
      (err) => isStrataError(err, "IO") && /names subject sha256:[0-9a-f]{64}, not sha256:/.test(err.message),
    );
  });
});
