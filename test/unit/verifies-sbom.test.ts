import assert from "node:assert/strict";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import type { Referrer } from "../../src/oci/image.js";
import { descriptorOf, type Image, imageDescriptor, jsonBytes } from "../../src/oci/image.js";
import { writeLayout } from "../../src/oci/layout.js";
import { attachToLayout, referrerOf } from "../../src/oci/referrers.js";
import { type Manifest, MediaType } from "../../src/oci/types.js";
import { computeSboms } from "../../src/sbom/sbom.js";
import { assertOneLineError, isolatedEnv, type RunResult, runStrata } from "../helpers/cli.js";
import { LICENCES, PACKAGES, strataLikeImage } from "../helpers/sbom-image.js";
import { otherLastDigit } from "../helpers/tamper.js";

/** The built CLI, with its cache and fleet index in a temp dir of their own. */
const strata = async (args: string[]): Promise<RunResult> => runStrata(args, { env: await isolatedEnv() });

/**
 * README "Attached SBOMs": an attached SBOM is checked against its subject, its type and the image's
 * own record before `strata sbom` returns it. Each test attaches a crafted one to a layout.
 */

const SPDX = "application/spdx+json";

let image: Image;
let honest: Buffer;

before(async () => {
  image = await strataLikeImage(PACKAGES, LICENCES);
  honest = (await computeSboms(image, ["spdx"], "test")).get("spdx")!;
});

/** A layout of the image with `referrer` attached (what anyone who can write to it could do). */
async function layoutWith(referrer: Referrer): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), "strata-verifies-sbom-")), "layout");
  await writeLayout(dir, { kind: "image", image }, { tag: "latest" });
  await attachToLayout(dir, referrer);
  return dir;
}

/** An SPDX referrer of the image whose manifest `edit` changed after it was made (its index entry kept). */
function craftedReferrer(bytes: Buffer, edit: (m: Manifest) => Manifest = (m) => m): Referrer {
  const made = referrerOf(imageDescriptor(image), SPDX, { bytes, title: "sbom.spdx.json" }, {});
  const manifest = edit(made.manifest);
  const manifestBytes = jsonBytes(manifest);
  return {
    ...made,
    manifest,
    manifestBytes,
    descriptor: descriptorOf(MediaType.ociManifest, manifestBytes, { artifactType: SPDX }),
  };
}

describe("strata sbom returns an attached SBOM only when it is the image's", () => {
  test("one that names a package the image does not hold is not returned: one warning line, the document computed", async () => {
    const doc = JSON.parse(honest.toString());
    const invented = structuredClone(
      doc.packages.find((p: { name?: string }) => p.name === PACKAGES[0].name),
    );
    invented.SPDXID = "SPDXRef-Package-invented";
    invented.name = "backdoor";
    for (const ref of invented.externalRefs)
      ref.referenceLocator = ref.referenceLocator.replace(`/${PACKAGES[0].name}@`, "/backdoor@");
    doc.packages.push(invented);
    const dir = await layoutWith(craftedReferrer(Buffer.from(JSON.stringify(doc))));
    const read = await strata(["sbom", `oci:${dir}`]);
    assert.equal(read.code, 0, read.stderr);
    assert.match(
      read.stderr,
      /^warning: the spdx SBOM attached to .* names 1 the image does not hold \(backdoor .*: not used; computed from the image instead$/m,
    );
    assert.equal(read.stdout, honest.toString());
  });

  test("one whose manifest says another type than its index entry is refused in one line", async () => {
    const referrer = craftedReferrer(honest, (m) => ({
      ...m,
      artifactType: "application/vnd.cyclonedx+json",
    }));
    const dir = await layoutWith(referrer);
    assertOneLineError(
      await strata(["sbom", `oci:${dir}`]),
      /the attached artifact is of type application\/vnd\.cyclonedx\+json, not application\/spdx\+json$/,
    );
  });

  test("one whose manifest holds two documents is refused in one line", async () => {
    const referrer = craftedReferrer(honest, (m) => ({ ...m, layers: [m.layers[0], m.layers[0]] }));
    const dir = await layoutWith(referrer);
    assertOneLineError(await strata(["sbom", `oci:${dir}`]), /the attached artifact has 2 layers, not one$/);
  });

  test("the untouched attached SBOM is returned as attached", async () => {
    const dir = await layoutWith(craftedReferrer(honest));
    const read = await strata(["sbom", `oci:${dir}`]);
    assert.equal(read.code, 0, read.stderr);
    assert.match(read.stderr, /the spdx SBOM attached to/);
    assert.equal(read.stdout, honest.toString());
  });

  for (const part of ["manifest", "document"] as const) {
    test(`one whose ${part} blob in the layout was altered at its size is refused in one line`, async () => {
      const referrer = craftedReferrer(honest);
      const dir = await layoutWith(referrer);
      const digest = part === "manifest" ? referrer.descriptor.digest : referrer.payload.descriptor.digest;
      const path = join(dir, "blobs", "sha256", digest.slice("sha256:".length));
      await writeFile(path, otherLastDigit(await readFile(path)));
      assertOneLineError(
        await strata(["sbom", `oci:${dir}`]),
        new RegExp(`${digest}: sha256 is [0-9a-f]{64}, expected ${digest.slice("sha256:".length)}$`),
      );
    });
  }
});
