import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { locationText } from "../../src/oci/locations/name.js";
import { updateLocations } from "../../src/pipeline/update-in-place.js";
import { isStrataError } from "../../src/util/errors.js";

const DIGEST = `sha256:${"a".repeat(64)}`;

/** The refusal's code and message, or a failed assertion when there was none. */
async function refusal(image: string, flags: Parameters<typeof updateLocations>[1]) {
  const err = await updateLocations(image, flags).then(
    () => assert.fail("expected a refusal"),
    (e: unknown) => e,
  );
  assert.ok(isStrataError(err), String(err));
  return { code: err.code, message: err.message };
}

describe("update's destination: -o, --push, or the image's own place", () => {
  it("goes back to a registry tag when neither -o nor --push is given", async () => {
    const { image, destination } = await updateLocations("docker://127.0.0.1:5000/app:1", {});
    assert.equal(destination, image);
  });

  it("goes to -o (in --format) or --push when given", async () => {
    const out = await updateLocations("docker://127.0.0.1:5000/app:1", {
      output: "/tmp/x.tar",
      format: "oci-archive",
    });
    assert.equal(locationText(out.destination), "oci-archive:/tmp/x.tar");
    const pushed = await updateLocations("docker://127.0.0.1:5000/app:1", { push: "127.0.0.1:5000/app:2" });
    assert.equal(locationText(pushed.destination), "docker://127.0.0.1:5000/app:2");
  });

  it("refuses -o with --push", async () => {
    const r = await refusal("docker://127.0.0.1:5000/app:1", {
      output: "/tmp/x",
      push: "127.0.0.1:5000/app:2",
    });
    assert.deepEqual(r, { code: "USAGE", message: "-o and --push contradict each other" });
  });

  it("refuses to update a digest reference in place: a digest cannot point at another image", async () => {
    const r = await refusal(`docker://127.0.0.1:5000/app@${DIGEST}`, {});
    assert.equal(r.code, "USAGE");
    assert.match(r.message, /names a digest, which cannot point at another image/);
  });

  it("replaces a local image in place only with --force", async () => {
    const r = await refusal("oci:/tmp/strata-no-such-layout", {});
    assert.equal(r.code, "OUTPUT_EXISTS");
    assert.match(r.message, /is local: updating it in place replaces it/);
    const forced = await updateLocations("oci:/tmp/strata-no-such-layout", { force: true });
    assert.equal(forced.destination, forced.image);
  });
});
