import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { readInventory } from "../../src/inventory/inventory.js";
import { readDockerArchive } from "../../src/oci/homes/docker-archive.js";
import { parseHomeName } from "../../src/oci/homes/name.js";
import { isStrataError } from "../../src/util/errors.js";
import { dpkgStanza, layerOf, tarBytes } from "../helpers/layer-tar.js";
import { syntheticImage } from "../helpers/synthetic-image.js";

/**
 * The new readers of outside bytes (home names, docker-archive manifest.json, dpkg records in
 * layers) fed random and mutated input: the only failure allowed is a StrataError. Fixed seed.
 */
const SEED = 20261125;
const RUNS = 200;

async function cleanOutcome(parse: () => unknown): Promise<void> {
  try {
    await parse();
  } catch (err) {
    if (isStrataError(err)) return;
    throw err;
  }
}

function mutated(sample: string): fc.Arbitrary<string> {
  return fc
    .tuple(fc.nat(sample.length), fc.nat(40), fc.string({ unit: "binary", maxLength: 40 }))
    .map(([at, cut, insert]) => sample.slice(0, at) + insert + sample.slice(at + cut));
}

describe("readers of outside bytes fail only with clean errors", () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "strata-homes-fuzz-"));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test("home names: any text parses or is a clean usage error", () => {
    const samples = [
      "oci:/tmp/x:v1",
      "docker-archive:/a.tar:app:v1",
      "docker://127.0.0.1:5000/a/b@sha256:",
      "oci-archive:f",
    ];
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 80 }), ...samples.map(mutated)), (text) => {
        try {
          parseHomeName(text);
        } catch (err) {
          assert.ok(isStrataError(err, "USAGE"), String(err));
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test("a docker-archive's manifest.json, mutated, is read or refused cleanly", async () => {
    const layer = await tarBytes([{ path: "etc/x", body: "x" }]);
    const sample = JSON.stringify([{ Config: "c.json", RepoTags: ["app:1"], Layers: ["l.tar"] }]);
    let n = 0;
    await fc.assert(
      fc.asyncProperty(mutated(sample), async (manifest) => {
        const file = join(work, `m${n++}.tar`);
        const config = JSON.stringify({
          architecture: "amd64",
          os: "linux",
          rootfs: { type: "layers", diff_ids: [] },
        });
        await writeFile(
          file,
          await tarBytes([
            { path: "c.json", body: config },
            { path: "l.tar", body: layer },
            { path: "manifest.json", body: manifest },
          ]),
        );
        await cleanOutcome(() => readDockerArchive(file));
        await rm(file);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  test("dpkg records in a layer, mutated, give packages or a clean error", async () => {
    const sample = dpkgStanza({
      name: "libssl3",
      version: "3.0.15-1~deb12u1",
      source: "openssl (3.0.15-1~deb12u1)",
    });
    await fc.assert(
      fc.asyncProperty(mutated(sample), fc.boolean(), async (text, inStatus) => {
        const path = inStatus ? "var/lib/dpkg/status" : "var/lib/dpkg/status.d/x";
        const image = syntheticImage([await layerOf([{ path, body: text }], { compression: "none" })]);
        await cleanOutcome(() => readInventory(image, "fuzz"));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
