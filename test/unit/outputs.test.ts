import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { readOciArchive, writeDockerArchive, writeOciArchive } from "../../src/oci/archive.js";
import { type Artifact, type BlobSource, type Image, imageDescriptor } from "../../src/oci/image.js";
import { readLayout, writeLayout } from "../../src/oci/layout.js";
import { sweepStaleSiblings } from "../../src/oci/placement.js";
import { isStrataError } from "../../src/util/errors.js";
import { freshImage, imageArtifact } from "../helpers/synthetic-image.js";

/** A blob source that gives the first chunk of every layer and then fails, like a build that dies mid-write. */
function failingMidway(image: Image): Image {
  const blobs: BlobSource = {
    open: async (digest) => {
      const whole = await image.blobs.open(digest);
      return Readable.from(
        (async function* () {
          for await (const chunk of whole) {
            yield (chunk as Buffer).subarray(0, 100);
            throw Object.assign(new Error("disk went away"), { code: "EIO" });
          }
        })(),
      );
    },
  };
  return { ...image, blobs };
}

/** The names in `dir` that are temp siblings of `name`. */
async function tempSiblings(dir: string, name: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith(`.${name}.tmp-`));
}

/** The pid of a process that has exited (so a temp file named after it is stale). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.on("close", resolve));
  return child.pid!;
}

async function readBack(dir: string): Promise<string> {
  const artifact: Artifact = await readLayout(dir);
  assert.equal(artifact.kind, "image");
  if (artifact.kind !== "image") return "";
  for (const layer of artifact.image.manifest.layers) {
    for await (const _ of await artifact.image.blobs.open(layer.digest)); // verified to the end
  }
  return imageDescriptor(artifact.image).digest;
}

describe("outputs are written whole or not at all", () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "strata-outputs-"));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test("a layout write that fails part way leaves no output and no temp sibling, and the rerun writes it", async () => {
    const { image } = await freshImage(3, { fileSize: 64 * 1024 });
    const dir = join(work, "torn");
    await assert.rejects(
      writeLayout(dir, imageArtifact(failingMidway(image))),
      /cannot write .*torn|disk went away/,
    );
    assert.equal(await stat(dir).catch(() => undefined), undefined, "no half-written layout");
    assert.deepEqual(await tempSiblings(work, "torn"), []);
    await writeLayout(dir, imageArtifact(image));
    assert.equal(await readBack(dir), imageDescriptor(image).digest);
  });

  test("a failed --force rewrite keeps the old layout whole; a good one replaces it", async () => {
    const first = await freshImage(2);
    const second = await freshImage(2, { fileSize: 64 * 1024 });
    const dir = join(work, "kept");
    await writeLayout(dir, imageArtifact(first.image));
    await assert.rejects(writeLayout(dir, imageArtifact(failingMidway(second.image)), { force: true }));
    assert.equal(await readBack(dir), imageDescriptor(first.image).digest);
    await writeLayout(dir, imageArtifact(second.image), { force: true });
    assert.equal(await readBack(dir), imageDescriptor(second.image).digest);
    assert.deepEqual(await tempSiblings(work, "kept"), []);
  });

  test("archive writes that fail leave neither the archive nor a hidden temp file", async () => {
    const { image } = await freshImage(2, { fileSize: 64 * 1024 });
    const broken = imageArtifact(failingMidway(image));
    await assert.rejects(writeOciArchive(join(work, "a.tar"), broken));
    await assert.rejects(writeDockerArchive(join(work, "d.tar"), failingMidway(image)));
    const left = (await readdir(work)).filter((n) => n.includes("a.tar") || n.includes("d.tar"));
    assert.deepEqual(left, []);
  });

  test("an archive is not replaced without force, and is replaced whole with it", async () => {
    const first = await freshImage(1);
    const second = await freshImage(1);
    const file = join(work, "replace.tar");
    await writeOciArchive(file, imageArtifact(first.image));
    await assert.rejects(writeOciArchive(file, imageArtifact(second.image)), (err) =>
      isStrataError(err, "OUTPUT_EXISTS"),
    );
    await writeOciArchive(file, imageArtifact(second.image), { force: true });
    const back = await readOciArchive(file);
    assert.equal(
      back.kind === "image" && imageDescriptor(back.image).digest,
      imageDescriptor(second.image).digest,
    );
  });

  test("temp siblings a killed run left (its pid is gone) are swept; a live writer's are kept", async () => {
    const dead = await deadPid();
    const out = join(work, "swept");
    const staleDir = join(work, `.swept.tmp-${dead}-0a0b0c0d`);
    const staleFile = join(work, `.swept.tmp-${dead}-0e0f0a0b`);
    const live = join(work, `.swept.tmp-${process.pid}-01020304`);
    const other = join(work, `.sweptx.tmp-${dead}-01020304`);
    await mkdir(join(staleDir, "blobs"), { recursive: true });
    for (const f of [staleFile, live, other]) await writeFile(f, "x");
    const { image } = await freshImage(1);
    await writeLayout(out, imageArtifact(image));
    assert.deepEqual((await tempSiblings(work, "swept")).sort(), [`.swept.tmp-${process.pid}-01020304`]);
    assert.equal(await readFile(other, "utf8"), "x", "another output's temp files are not touched");
    assert.equal(await sweepStaleSiblings(join(work, "sweptx")), 1);
  });

  test("a run killed just after placing its archive left a temp link: the next run sweeps it, even when it refuses to overwrite", async () => {
    const file = join(work, "placed.tar");
    await writeOciArchive(file, imageArtifact((await freshImage(1)).image));
    await writeFile(join(work, `.placed.tar.tmp-${await deadPid()}-0a0b0c0d`), "x");
    await assert.rejects(writeOciArchive(file, imageArtifact((await freshImage(1)).image)), (err) =>
      isStrataError(err, "OUTPUT_EXISTS"),
    );
    assert.deepEqual(await tempSiblings(work, "placed.tar"), []);
  });

  test("concurrent --force writes of one layout never crash or tear it: each completes or says why not", async () => {
    const images = await Promise.all([1, 2, 3, 4].map(() => freshImage(2)));
    const dir = join(work, "race");
    await writeLayout(dir, imageArtifact(images[0].image));
    const results = await Promise.allSettled(
      images.map(({ image }) => writeLayout(dir, imageArtifact(image), { force: true })),
    );
    for (const r of results) {
      if (r.status === "rejected") assert.ok(isStrataError(r.reason, "OUTPUT_EXISTS"), String(r.reason));
    }
    assert.ok(results.some((r) => r.status === "fulfilled"));
    const digest = await readBack(dir);
    assert.ok(images.some(({ image }) => imageDescriptor(image).digest === digest));
    assert.deepEqual(await tempSiblings(work, "race"), []);
  });
});
