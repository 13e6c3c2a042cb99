import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { chooseImage, parsePlatform, platformText } from "../../src/oci/platform.js";
import { isStrataError } from "../../src/util/errors.js";
import { freshImage } from "../helpers/synthetic-image.js";

describe("--platform", () => {
  test("OCI names and Debian architectures name the same platforms", () => {
    assert.deepEqual(parsePlatform("linux/arm64"), { architecture: "arm64", variant: "v8" });
    assert.deepEqual(parsePlatform("arm64"), { architecture: "arm64", variant: "v8" });
    assert.deepEqual(parsePlatform("linux/arm/v7"), { architecture: "arm", variant: "v7" });
    assert.deepEqual(parsePlatform("armhf"), { architecture: "arm", variant: "v7" });
    assert.deepEqual(parsePlatform("linux/amd64"), { architecture: "amd64" });
    assert.deepEqual(parsePlatform("i386"), { architecture: "386" });
    for (const bad of ["linux/arm/v7/x", "linux/", "windows/amd64/x", "arm 64"]) {
      assert.throws(
        () => parsePlatform(bad),
        (err) => isStrataError(err, "USAGE"),
        bad,
      );
    }
  });

  test("an image is chosen by platform; an arm64 image without a variant is v8", async () => {
    const amd = (await freshImage(1)).image;
    const arm = (await freshImage(1, { platform: { architecture: "arm64", os: "linux" } })).image;
    const armv7 = (await freshImage(1, { platform: { architecture: "arm", os: "linux", variant: "v7" } }))
      .image;
    const images = [amd, arm, armv7];
    assert.equal(chooseImage(images, "linux/arm64/v8", "x"), arm);
    assert.equal(chooseImage(images, "arm64", "x"), arm);
    assert.equal(chooseImage(images, "armhf", "x"), armv7);
    assert.equal(chooseImage(images, "linux/amd64", "x"), amd);
    assert.equal(chooseImage([amd], undefined, "x"), amd);
    assert.equal(platformText(armv7), "linux/arm/v7");
  });

  test("several images and no --platform is an error listing them, never a silent pick", async () => {
    const amd = (await freshImage(1)).image;
    const arm = (await freshImage(1, { platform: { architecture: "arm64", os: "linux", variant: "v8" } }))
      .image;
    assert.throws(
      () => chooseImage([amd, arm], undefined, "a docker-archive holds one image"),
      (err) =>
        isStrataError(err, "USAGE") &&
        err.message ===
          "a docker-archive holds one image, and this artifact has 2: linux/amd64, linux/arm64/v8",
    );
    assert.throws(
      () => chooseImage([amd], "linux/arm64", "x"),
      (err) =>
        isStrataError(err, "USAGE") &&
        /no image for --platform linux\/arm64 \(this artifact has linux\/amd64\)/.test(err.message),
    );
  });
});
