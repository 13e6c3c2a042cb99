import assert from "node:assert/strict";
import { cp, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { writeLocation } from "../../src/oci/locations/locations.js";
import { attachToLayout, referrerOf } from "../../src/oci/referrers.js";
import { attachSboms } from "../../src/sbom/attach.js";
import { computeSboms } from "../../src/sbom/sbom.js";
import { FleetView } from "../../src/serve/fleet-view.js";
import { parseListen } from "../../src/serve/listen.js";
import { buildServer } from "../../src/serve/server.js";
import { Vulnerabilities } from "../../src/serve/vulnerabilities.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import { BASE_FILES, OLD_CURL, OLD_ZLIB } from "../helpers/page-fleet.js";

/**
 * The page's SBOM downloads: images indexed from OCI layouts (one with SBOMs attached), one whose
 * layout is gone, and one at a "registry" that accepts connections and never answers.
 */
let app: FastifyInstance;
let index: FleetIndex;
let silent: Server;
const sockets: Socket[] = [];
const digests = { plain: "", attached: "", forged: "", gone: "", silent: "" };

async function indexLayout(dir: string, name: string, packages: (typeof BASE_FILES)[]) {
  const { image } = await strataImage(packages, { label: name });
  const path = resolve(dir, name);
  const location = { transport: "oci" as const, path, tag: "1" };
  await writeLocation(location, { kind: "image", image }, { refName: "1", archiveName: `${name}:1` });
  const digest = imageDescriptor(image).digest;
  await index.add(image, `oci:${path}:1`, [
    { registry: "", repository: `oci:${path}`, tag: "1", topDigest: digest },
  ]);
  return { home: location, image, digest };
}

before(async () => {
  const dir = await tempDir("serve-sbom");
  index = await FleetIndex.open(join(dir, "index.db"));
  digests.plain = (await indexLayout(dir, "plain", [BASE_FILES, OLD_CURL])).digest;
  const withSbom = await indexLayout(dir, "attached", [BASE_FILES, OLD_ZLIB]);
  await attachSboms(withSbom.home, { kind: "image", image: withSbom.image });
  digests.attached = withSbom.digest;
  // An SBOM attached by someone with push rights that hides the vulnerable curl.
  const forged = await indexLayout(dir, "forged", [BASE_FILES, OLD_CURL]);
  const honest = (await computeSboms(forged.image, ["cyclonedx"], "test")).get("cyclonedx")!;
  const doc = JSON.parse(honest.toString());
  doc.components = doc.components.filter((c: { name: string }) => c.name !== OLD_CURL.name);
  const type = "application/vnd.cyclonedx+json";
  const payload = { bytes: Buffer.from(JSON.stringify(doc)), title: "sbom.cyclonedx.json" };
  await attachToLayout(forged.home.path, referrerOf(imageDescriptor(forged.image), type, payload, {}));
  digests.forged = forged.digest;
  const { image: gone } = await strataImage([OLD_ZLIB], { label: "gone" });
  digests.gone = imageDescriptor(gone).digest;
  await index.add(gone, "gone", [
    { registry: "", repository: `oci:${join(dir, "nowhere")}`, tag: "1", topDigest: digests.gone },
  ]);
  silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((ok) => silent.listen(0, "127.0.0.1", ok));
  const port = (silent.address() as { port: number }).port;
  const { image: mute } = await strataImage([OLD_CURL], { label: "silent" });
  digests.silent = imageDescriptor(mute).digest;
  await index.add(mute, "silent", [
    { registry: `127.0.0.1:${port}`, repository: "team/mute", tag: "1", topDigest: digests.silent },
  ]);
  const pageDir = join(dir, "page");
  await cp(new URL("../../src/serve/page/", import.meta.url), pageDir, { recursive: true });
  await writeFile(join(pageDir, "app.js"), "");
  // Each SBOM is made on a worker, which under tsx compiles its modules first: seconds on a busy machine.
  const view = new FleetView(index, new Vulnerabilities(index), { timeoutMs: 6000 });
  app = await buildServer({ view, pageDir, listen: parseListen("127.0.0.1:8080") });
});
after(async () => {
  await app?.close();
  await index?.close();
  for (const s of sockets) s.destroy();
  silent?.close();
});

async function get(url: string) {
  const res = await app.inject({ method: "GET", url, headers: { host: "127.0.0.1:8080" } });
  return { status: res.statusCode, text: res.body, headers: res.headers };
}

describe("strata serve SBOM downloads", () => {
  test("an image without an attached SBOM gets one computed from its layout, as a download", async () => {
    const res = await get(`/api/images/${digests.plain}/sbom?format=spdx`);
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-type"], "application/spdx+json");
    assert.match(
      String(res.headers["content-disposition"]),
      /^attachment; filename="plain-[0-9a-f]{12}\.spdx\.json"$/,
    );
    assert.match(String(res.headers["x-strata-sbom"]), /^computed; from=oci:/);
    const doc = JSON.parse(res.text);
    assert.equal(doc.spdxVersion, "SPDX-2.3");
    const names = doc.packages.map((p: { name: string }) => p.name);
    assert.ok(names.includes("libcurl4") && names.includes("base-files"), names.join(","));
  });

  test("an image with SBOMs attached in its layout gets the attached one", async () => {
    const res = await get(`/api/images/${digests.attached}/sbom?format=cyclonedx`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers["x-strata-sbom"]), /^attached; /);
    const doc = JSON.parse(res.text);
    assert.equal(doc.bomFormat, "CycloneDX");
    assert.ok(doc.components.some((c: { name: string }) => c.name === "zlib1g"));
  });

  test("an attached SBOM that hides a package is not served: the page computes it and says the attached one was refused", async () => {
    const res = await get(`/api/images/${digests.forged}/sbom?format=cyclonedx`);
    assert.equal(res.status, 200);
    assert.match(
      String(res.headers["x-strata-sbom"]),
      /^computed; .*attached one refused: it disagrees with the image$/,
    );
    const names = JSON.parse(res.text).components.map((c: { name: string }) => c.name);
    assert.ok(names.includes(OLD_CURL.name), names.join(","));
  });

  test("an image whose home is gone answers 502 with a JSON error and hint", async () => {
    const res = await get(`/api/images/${digests.gone}/sbom?format=spdx`);
    assert.equal(res.status, 502);
    const body = JSON.parse(res.text);
    assert.match(body.error, /cannot read sha256:[0-9a-f]{64} for its SBOM/);
    assert.ok(body.hint);
  });

  test("a registry that never answers gives 504 within the timeout", async () => {
    const started = Date.now();
    const res = await get(`/api/images/${digests.silent}/sbom?format=spdx`);
    assert.equal(res.status, 504);
    assert.match(JSON.parse(res.text).error, /took over 6000 ms/);
    assert.ok(Date.now() - started < 15_000);
  });

  test("an unknown format or an unindexed digest is refused before anything is read", async () => {
    assert.equal((await get(`/api/images/${digests.plain}/sbom?format=xml`)).status, 400);
    assert.equal((await get(`/api/images/sha256:${"0".repeat(64)}/sbom?format=spdx`)).status, 404);
  });
});
